// One check for "this call throws (or rejects with) a typed error naming the bad value",
// shared by the misuse tests.
import { expect } from "vitest";

export type ErrorClass = new (...a: never[]) => Error;

/** The error f throws, or undefined. */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The error p rejects with, or undefined. */
export function rejected(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

/** err is a `type`, with errno `code` when given, and a message matching every pattern. */
export function expectErr(err: unknown, type: ErrorClass, code: string | undefined, patterns: readonly RegExp[]): void {
  expect(err, `expected ${type.name}`).toBeInstanceOf(type);
  if (code) expect((err as { code?: string }).code).toBe(code);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
}
