let isAllowed = false;

/**
 * Lets the current test end with internal errors reported: for the few tests that
 * provoke a bug on purpose to show what the client gets. test/setup/internal-errors.ts
 * fails every other test that leaves one.
 */
export function allowInternalErrors(): void {
  isAllowed = true;
}

/** @internal For the setup file. */
export function isInternalErrorAllowed(): boolean {
  return isAllowed;
}

/** @internal For the setup file. */
export function resetInternalErrorAllowance(): void {
  isAllowed = false;
}
