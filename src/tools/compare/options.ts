// Command-line choices of `wasm-mmu compare`, checked before any work starts. A bad value is
// named in the error with the list of what is allowed.

/** Every Kernel design, in the order the table and chart show them (fewest levels first). */
export const DESIGNS = [
  "i386-2level",
  "i386-pae",
  "i386-pae-unshared",
  "x86_64-3level",
  "x86_64-4level",
  "x86_64-5level",
  "x86_64-5level-folded",
] as const;
export type Design = (typeof DESIGNS)[number];

export const WORKLOADS = ["lmbench", "large", "sparse", "huge", "touch"] as const;
export type Workload = (typeof WORKLOADS)[number];

export const IMPLS = ["wasm", "ts"] as const;
export type Impl = (typeof IMPLS)[number];

/** Every ratio in the table and chart is relative to this design (the 2.6.11 seed's). */
export const REFERENCE_DESIGN: Design = "x86_64-4level";

export interface CompareOptions {
  designs: Design[];
  workloads: Workload[];
  /** Also run the plain TypeScript range loops and show the WebAssembly/TypeScript ratio. */
  baseline: "ts" | null;
  /** Short runs for CI and tests: fewer iterations, smaller resident sets. */
  quick: boolean;
  /** What times are measured in: elapsed time, or this process's CPU time (steadier on a shared machine). */
  clock: "wall" | "cpu";
  /** Timing rounds per row, each in a fresh process (default: 8, 3 with --quick). */
  rounds?: number;
  json?: string;
  svg?: string;
}

/** Raw option values as commander hands them over. */
export interface RawCompareOptions {
  designs?: string;
  workloads?: string;
  baseline?: string;
  quick?: boolean;
  clock?: string;
  rounds?: string;
  json?: string;
  svg?: string;
}

/**
 * A comma-separated list of names from `allowed` ("all" = every one), kept in `allowed`'s order
 * and without repeats. Throws a RangeError naming the first unknown or empty item.
 */
export function parseList<T extends string>(option: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(",").map((s) => s.trim());
  if (items.length === 1 && items[0] === "all") return [...allowed];
  for (const item of items) {
    if (item === "") throw new RangeError(`${option}: empty name in ${JSON.stringify(value)}`);
    if (!(allowed as readonly string[]).includes(item)) {
      throw new RangeError(`${option}: unknown name ${JSON.stringify(item)} (allowed: ${allowed.join(", ")}, or all)`);
    }
  }
  return allowed.filter((a) => items.includes(a));
}

/** Checks the raw options; throws RangeError naming the bad value. */
export function resolveOptions(raw: RawCompareOptions): CompareOptions {
  const chosen = parseList("--designs", raw.designs ?? "all", DESIGNS);
  // Every ratio is to the reference design, so it always runs.
  const designs = DESIGNS.filter((d) => chosen.includes(d) || d === REFERENCE_DESIGN);
  const workloads = parseList("--workloads", raw.workloads ?? "all", WORKLOADS);
  let baseline: "ts" | null = null;
  if (raw.baseline !== undefined) {
    if (raw.baseline !== "ts") throw new RangeError(`--baseline: unknown implementation ${JSON.stringify(raw.baseline)} (allowed: ts)`);
    baseline = "ts";
  }
  const clock = raw.clock ?? "wall";
  if (clock !== "wall" && clock !== "cpu") throw new RangeError(`--clock: unknown clock ${JSON.stringify(clock)} (allowed: wall, cpu)`);
  for (const [flag, file] of [["--json", raw.json], ["--svg", raw.svg]] as const) {
    if (file !== undefined && file.trim() === "") throw new RangeError(`${flag}: empty file name`);
  }
  if (raw.json !== undefined && raw.json === raw.svg) {
    throw new RangeError(`--json and --svg name the same file ${JSON.stringify(raw.json)}`);
  }
  let rounds: number | undefined;
  if (raw.rounds !== undefined) {
    rounds = Number(raw.rounds);
    if (!/^\d+$/.test(raw.rounds.trim()) || rounds < 2 || rounds > 100) {
      throw new RangeError(`--rounds: ${JSON.stringify(raw.rounds)} is not a whole number in [2, 100] (an interval needs two rounds)`);
    }
  }
  return { designs, workloads, baseline, quick: raw.quick === true, clock, rounds, json: raw.json, svg: raw.svg };
}
