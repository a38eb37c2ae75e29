// Shared by the Kernel tests: the errno a system call failed with, or "ok".
import { KernelError } from "../src/index.js";

export function errno(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
  return "ok";
}
