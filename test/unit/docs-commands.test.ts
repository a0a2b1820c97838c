/**
 * The docs name commands and files a reader will type or open: every `switchyard …`
 * command in code (fenced blocks and inline code) of README.md, docs/, docs/backends/
 * and examples/<name>/README.md must be a subcommand the CLI has, with flags it knows
 * and no more arguments than it takes; every examples/, config/ or presets/ path they
 * name must exist, and each configuration file among them must validate.
 *
 * The CLI is asked for its help (`src/cli.ts` through tsx, so no build is needed): the
 * same text `npx switchyard <command> --help` prints.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import { EXAMPLE_ENV } from "../helpers/example-env.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The Markdown files a reader follows, repository-relative. */
function docFiles(): string[] {
  const inDir = (dir: string) =>
    readdirSync(join(root, dir))
      .filter((file) => file.endsWith(".md"))
      .map((file) => `${dir}/${file}`);
  const examples = readdirSync(join(root, "examples"))
    .map((dir) => `examples/${dir}/README.md`)
    .filter((file) => existsSync(join(root, file)));
  return ["README.md", ...inDir("docs"), ...inDir("docs/backends"), ...examples];
}

interface Named {
  /** `file:line` in the docs. */
  readonly where: string;
  readonly text: string;
}

/** Code of a Markdown file: every line of a fenced block, and every inline code span. */
function codeOf(file: string): Named[] {
  const code: Named[] = [];
  let isFenced = false;
  for (const [index, line] of readFileSync(join(root, file), "utf8").split("\n").entries()) {
    const where = `${file}:${index + 1}`;
    if (/^\s*```/.test(line)) {
      isFenced = !isFenced;
    } else if (isFenced) {
      code.push({ where, text: line });
    } else {
      for (const span of line.matchAll(/`([^`]+)`/g)) code.push({ where, text: span[1]! });
    }
  }
  return code;
}

/**
 * `switchyard <command> <words…>` up to the end of the line or a shell operator, or
 * `switchyard --flag` (a flag of the program itself, such as `--version`); not a flag's
 * value (`bench --servers switchyard`).
 */
const COMMAND =
  /(?:^|[\s(])(?<!--[\w-]+\s+)(?:npx\s+)?switchyard\s+([a-z][a-z-]*|-{1,2}[A-Za-z][\w-]*)((?:\s+[^\s|;&#>]+)*)/g;

interface DocCommand extends Named {
  /** The subcommand; "" for the program's own flags. */
  readonly command: string;
  readonly words: string[];
}

/** A {@link COMMAND} match: the command and its words (`[--port N]`: the flag and its value). */
function commandOf(match: RegExpMatchArray): Omit<DocCommand, "where"> {
  const words = match[2]!.split(/\s+/).flatMap((word) => {
    const bare = word.replace(/^\[+|\]+$/g, "");
    return bare === "" ? [] : [bare];
  });
  const isFlag = match[1]!.startsWith("-");
  return {
    text: match[0].trim(),
    command: isFlag ? "" : match[1]!,
    words: isFlag ? [match[1]!, ...words] : words,
  };
}

function docCommands(): DocCommand[] {
  return docFiles().flatMap((file) =>
    codeOf(file).flatMap(({ where, text }) =>
      [...text.matchAll(COMMAND)].map((match) => ({ where, ...commandOf(match) })),
    ),
  );
}

/** examples/, config/ and presets/ paths named anywhere in the docs (not `file:line:col` output). */
function docPaths(): Named[] {
  return docFiles().flatMap((file) =>
    readFileSync(join(root, file), "utf8")
      .split("\n")
      .flatMap((line, index) =>
        [
          ...line.matchAll(/(?<![\w/.-])((?:examples|config|presets)\/[\w./-]*\w)(?![\w./-]|:\d)/g),
        ].map((match) => ({ where: `${file}:${index + 1}`, text: match[1]! })),
      ),
  );
}

/** What `switchyard <command> --help` says: its flags (with whether each takes a value) and arguments. */
interface CommandHelp {
  readonly flags: ReadonlyMap<string, boolean>;
  readonly maxArguments: number;
}

const run = promisify(execFile);

async function help(command?: string): Promise<string> {
  const args = ["--import", "tsx", "src/cli.ts", ...(command ? [command] : []), "--help"];
  const { stdout } = await run(process.execPath, args, { cwd: root });
  return stdout;
}

function parseHelp(text: string): CommandHelp {
  const flags = new Map<string, boolean>();
  const options = text.split(/^Options:$/m)[1]?.split(/^\S/m)[0] ?? "";
  for (const line of options.split("\n")) {
    const option = /^ {2}(?:(-\w), )?(--[\w-]+)( [<[])?/.exec(line);
    if (option === null) continue;
    const takesValue = option[3] !== undefined;
    flags.set(option[2]!, takesValue);
    if (option[1] !== undefined) flags.set(option[1], takesValue);
  }
  // `Usage: switchyard validate [options] [file]`; the program's own: `[command]`.
  const usage = /^Usage: (.*)$/m.exec(text)?.[1] ?? "";
  const maxArguments = [...usage.matchAll(/[<[](?!options\]|command\])[\w.]+[\]>]/g)].length;
  return { flags, maxArguments };
}

/** The problems of one command as the docs write it; empty when the CLI takes it. */
function problemsOf(doc: DocCommand, helps: ReadonlyMap<string, CommandHelp>): string[] {
  const known = helps.get(doc.command);
  if (known === undefined) return [`no command '${doc.command}'`];
  // The program itself takes flags only (its [command] is what the docs name).
  const problems: string[] = [];
  let positionals = 0;
  for (let i = 0; i < doc.words.length; i++) {
    const word = doc.words[i]!;
    if (!word.startsWith("-")) {
      positionals++;
      continue;
    }
    const flag = word.split("=")[0]!;
    const takesValue = known.flags.get(flag);
    if (takesValue === undefined) problems.push(`no option '${flag}'`);
    else if (takesValue && !word.includes("=")) i++;
  }
  if (positionals > known.maxArguments) {
    problems.push(`${positionals} argument(s), takes at most ${known.maxArguments}`);
  }
  return problems;
}

describe("commands and files the docs name", () => {
  const commands = docCommands();
  const paths = docPaths();
  const helps = new Map<string, CommandHelp>();

  // Five CLI processes through tsx: slow on a loaded machine, hence the minute.
  beforeAll(async () => {
    const program = await help();
    helps.set("", parseHelp(program));
    const commands = program.split(/^Commands:$/m)[1] ?? "";
    const names = [...commands.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)]
      .map((match) => match[1]!)
      .filter((name) => name !== "help");
    const texts = await Promise.all(names.map((name) => help(name)));
    for (const [i, name] of names.entries()) helps.set(name, parseHelp(texts[i]!));
  }, 60_000);

  it("finds the commands and files (so the checks below check something)", () => {
    expect(commands.length).toBeGreaterThan(20);
    expect(new Set(commands.map((c) => c.command))).toContain("validate");
    expect(paths.map((p) => p.text)).toContain("examples/pusher/switchyard.yaml");
  });

  it("knows a command, a flag and an argument count it does not have when it sees them", () => {
    const doc = (text: string): DocCommand => ({
      where: "here",
      ...commandOf([...text.matchAll(COMMAND)][0]!),
    });
    expect(problemsOf(doc("switchyard stop"), helps)).toEqual(["no command 'stop'"]);
    expect(problemsOf(doc("switchyard start --colour"), helps)).toEqual(["no option '--colour'"]);
    expect(problemsOf(doc("switchyard shadow x"), helps)).toEqual([
      "1 argument(s), takes at most 0",
    ]);
    expect(problemsOf(doc("switchyard --colour"), helps)).toEqual(["no option '--colour'"]);
    expect(problemsOf(doc("switchyard start [--config FILE] [--port N]"), helps)).toEqual([]);
    expect(problemsOf(doc("switchyard --help"), helps)).toEqual([]);
  });

  it("every `switchyard …` command exists with the flags and arguments the docs give it", () => {
    const wrong = commands.flatMap((doc) =>
      problemsOf(doc, helps).map((problem) => `${doc.where}: \`${doc.text}\`: ${problem}`),
    );
    expect(wrong).toEqual([]);
  });

  it("every examples/, config/ and presets/ path exists", () => {
    const missing = paths
      .filter((path) => !existsSync(join(root, path.text)))
      .map((path) => `${path.where}: ${path.text}`);
    expect(missing).toEqual([]);
  });

  it("every configuration file named (examples/, config/) validates", () => {
    const configs = new Set(
      paths
        .map((path) => path.text)
        .filter((path) => /^(examples|config)\/.*\.yaml$/.test(path))
        .filter((path) => existsSync(join(root, path))),
    );
    expect(configs.size).toBeGreaterThan(5);
    const invalid = [...configs].flatMap((file) => {
      const { config, diagnostics } = loadConfig(join(root, file), EXAMPLE_ENV);
      return config === undefined ? diagnostics.map((d) => `${file}: ${formatDiagnostic(d)}`) : [];
    });
    expect(invalid).toEqual([]);
  });
});
