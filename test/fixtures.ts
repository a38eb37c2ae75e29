// Loads the real-kernel captures in test/fixtures (format and provenance: its README.md).
// Every capture listed here must be present and whole: a missing one fails the suites that use
// it instead of leaving them empty.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Machine, Registers } from "../src/index.js";
import { captureMachine } from "../src/tools/capture.js";

export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** The captures the repository carries (test/fixtures/README.md), in the order tests use them. */
export const FIXTURE_NAMES = ["i386-2level-1", "i386-pae-1", "x86_64-4level-1", "x86_64-5level-1"] as const;

/** Fewest gva2gpa samples a capture may hold (they hold 211 to 296): a truncated file fails. */
export const MIN_GVA2GPA_SAMPLES = 200;

export interface Fixture {
  name: string;
  meta: Record<string, string | number>;
  registers: Registers;
  /** [physical address, 4096 bytes] of each page-table page. */
  pages: Array<[bigint, Uint8Array]>;
  tlb: string;
  mem: string;
  gva2gpa: Array<[bigint, bigint | null]>;
}

/** The capture names; throws when a listed capture is missing or an unlisted one is there. */
export function fixtureNames(): string[] {
  const found = existsSync(FIXTURES)
    ? readdirSync(FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    : [];
  const expected: string[] = [...FIXTURE_NAMES];
  if (found.join() !== expected.join()) {
    throw new Error(`${FIXTURES} must hold exactly the captures ${expected.join(", ")}; found: ${found.join(", ") || "nothing"}`);
  }
  return expected;
}

/** Reads a capture whole; throws naming the file when one is missing or the samples are too few. */
export function loadFixture(name: string): Fixture {
  const dir = join(FIXTURES, name);
  for (const file of ["meta.json", "tables.bin.gz", "gva2gpa.txt", "tlb.txt.gz", "mem.txt.gz"]) {
    if (!existsSync(join(dir, file))) throw new Error(`capture ${name}: ${join(dir, file)} is missing`);
  }
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
  const tables = gunzipSync(readFileSync(join(dir, "tables.bin.gz")));
  const pages: Array<[bigint, Uint8Array]> = [];
  for (let o = 0; o + 4104 <= tables.length; o += 4104) {
    pages.push([tables.readBigUInt64LE(o), new Uint8Array(tables.subarray(o + 8, o + 4104))]);
  }
  const gva2gpa: Array<[bigint, bigint | null]> = [];
  for (const line of readFileSync(join(dir, "gva2gpa.txt"), "utf8").split("\n")) {
    const m = /^([0-9a-f]+) (?:gpa: 0x([0-9a-f]+)|Unmapped)/.exec(line.trim());
    if (m) gva2gpa.push([BigInt("0x" + m[1]), m[2] ? BigInt("0x" + m[2]) : null]);
  }
  if (gva2gpa.length < MIN_GVA2GPA_SAMPLES || gva2gpa.length !== Number(meta.gva2gpa_samples)) {
    throw new Error(
      `capture ${name}: parsed ${gva2gpa.length} gva2gpa samples; meta.json says ${meta.gva2gpa_samples}, and at least ${MIN_GVA2GPA_SAMPLES} are needed`,
    );
  }
  return {
    name,
    meta,
    registers: {
      cr0: BigInt(meta.cr0),
      cr3: BigInt(meta.cr3),
      cr4: BigInt(meta.cr4),
      efer: BigInt(meta.efer),
      pkru: 0n,
    },
    pages,
    tlb: gunzipSync(readFileSync(join(dir, "tlb.txt.gz"))).toString("utf8"),
    mem: gunzipSync(readFileSync(join(dir, "mem.txt.gz"))).toString("utf8"),
    gva2gpa,
  };
}

/** A Machine holding the fixture's page tables with its registers loaded (see captureMachine). */
export function machineFor(f: Fixture): Promise<Machine> {
  return captureMachine({ mode: String(f.meta.mode), ramBytes: Number(f.meta.ram_bytes), registers: f.registers, pages: f.pages });
}
