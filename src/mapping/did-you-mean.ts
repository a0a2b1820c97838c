/**
 * "Did you mean" suggestions for misspelt keys, enum values and template variables.
 */

/**
 * Returns the candidate closest to `word` when it is close enough to be a likely
 * typo, otherwise `undefined`. Case is ignored; a swap of two neighbouring letters
 * counts as one edit (`prot` → `port`). An exact match is not a suggestion.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  // Short words tolerate one edit, longer ones a few: beyond that a suggestion is noise.
  const limit = lower.length <= 4 ? 1 : lower.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (candidate === word) return undefined;
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, swaps. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

/**
 * The tail that follows an unknown key in a message: `did you mean 'ack'? known keys:
 * ack, join` (the suggestion only when {@link didYouMean} finds one).
 */
export function knownKeysHint(key: string, known: readonly string[]): string {
  const suggestion = didYouMean(key, known);
  const list = `known keys: ${known.join(", ")}`;
  return suggestion === undefined ? list : `did you mean '${suggestion}'? ${list}`;
}
