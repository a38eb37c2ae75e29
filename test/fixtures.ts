// Loads the real-kernel captures in ../shared/fixtures (format: that folder's README.md).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Machine, Registers } from "../src/index.js";
import { captureMachine } from "../src/tools/capture.js";

export const FIXTURES = fileURLToPath(new URL("../../shared/fixtures/", import.meta.url));

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

export function fixtureNames(): string[] {
  if (!existsSync(FIXTURES)) return [];
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FIXTURES, d.name, "meta.json")))
    .map((d) => d.name)
    .sort();
}

export function loadFixture(name: string): Fixture {
  const dir = join(FIXTURES, name);
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
