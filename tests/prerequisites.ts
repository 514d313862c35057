// A test whose prerequisite (a Debian package, a built bundle, the test guest) is missing is skipped
// on a developer's machine, but under CI (CI set) the run must fail instead, naming what is missing:
// a green CI run with whole suites skipped proves nothing.
import { test } from 'node:test';

const reported = new Set<string>();

/** `reason` as a skip reason; under CI also one failing test that names it. */
export function skipOrFailInCi(reason: string | false | null | undefined): string | false {
  if (!reason) return false;
  if (process.env.CI && !reported.has(reason)) {
    reported.add(reason);
    test(`prerequisite missing: ${reason}`, () => {
      throw new Error(`CI needs this prerequisite: ${reason}`);
    });
  }
  return reason;
}
