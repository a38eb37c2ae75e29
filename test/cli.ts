// Runs the built CLI (dist/cli/main.js) in a child process, as a user does, and hands back its
// exit code and both streams, so a test can check the CLI's own words rather than the fact that
// something, anything, exited non-zero.
import { spawnSync } from "node:child_process";

export const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { input?: string | Buffer; cwd?: string } = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    input: options.input,
    cwd: options.cwd,
    maxBuffer: 1 << 26,
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}
