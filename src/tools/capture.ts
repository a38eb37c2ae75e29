// Page-table captures in the format of test/fixtures/README.md: meta.json with the
// control registers and RAM size, tables.bin.gz with every page-table page reachable from CR3.

import { Machine, type Registers } from "../machine/machine.js";

/** Bytes per record of tables.bin: 8-byte little-endian physical address, then the page. */
const RECORD = 8 + 4096;

export interface Capture {
  /** `mode` from meta.json: x86_64-4level, x86_64-5level, i386-pae, i386-2level. */
  mode: string;
  ramBytes: number;
  registers: Registers;
  /** [physical address, 4096 bytes] of each page-table page. */
  pages: Array<[bigint, Uint8Array]>;
  meta: Record<string, unknown>;
}

/** Splits an uncompressed tables.bin into its pages. */
export function parseTables(tables: Uint8Array): Array<[bigint, Uint8Array]> {
  if (tables.length % RECORD !== 0) {
    throw new RangeError(`tables.bin must be a whole number of ${RECORD}-byte records, got ${tables.length} bytes`);
  }
  const view = new DataView(tables.buffer, tables.byteOffset, tables.length);
  const pages: Array<[bigint, Uint8Array]> = [];
  for (let o = 0; o < tables.length; o += RECORD) pages.push([view.getBigUint64(o, true), tables.subarray(o + 8, o + RECORD)]);
  return pages;
}

/** Reads a capture folder (meta.json + tables.bin.gz). */
export async function readCapture(dir: string): Promise<Capture> {
  // Node built-ins load only here, so that the package itself imports in a browser.
  const [{ readFile }, { join }, { gunzipSync }] = await Promise.all([
    import(/* @vite-ignore */ "node:fs/promises"), import(/* @vite-ignore */ "node:path"), import(/* @vite-ignore */ "node:zlib"),
  ]);
  // A folder that is not a capture: say which file was expected, not just ENOENT.
  const expected = async (file: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
      throw new RangeError(`${dir} is not a capture folder: expected ${join(dir, file)} (a capture holds meta.json and tables.bin.gz)`);
    }
  };
  const metaText = (await expected("meta.json")).toString("utf8");
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(metaText) as Record<string, unknown>;
  } catch (err) {
    throw new RangeError(`${join(dir, "meta.json")} is not JSON: ${(err as Error).message}`);
  }
  const reg = (key: string): bigint => {
    const v = meta[key];
    if (typeof v !== "string" && typeof v !== "number") throw new TypeError(`${join(dir, "meta.json")}: ${key} is missing`);
    return BigInt(v);
  };
  const ramBytes = Number(meta.ram_bytes);
  if (!Number.isSafeInteger(ramBytes)) throw new TypeError(`${join(dir, "meta.json")}: ram_bytes is missing`);
  const pages = parseTables(gunzipSync(await expected("tables.bin.gz")));
  const registers = { cr0: reg("cr0"), cr3: reg("cr3"), cr4: reg("cr4"), efer: reg("efer"), pkru: 0n };
  return { mode: String(meta.mode), ramBytes, registers, pages, meta };
}

/**
 * A Machine holding the capture's page tables with its registers loaded. QEMU sets the Accessed
 * bit (bit 5) in PAE PDPTEs, a bit the SDM reserves there; a CPU checking PDPTEs at MOV CR3
 * would refuse them, so (strict, as hardware) bit 5 of the four PDPTEs is cleared first.
 */
export async function captureMachine(c: Omit<Capture, "meta">): Promise<Machine> {
  const m = await Machine.create({ ramBytes: c.ramBytes });
  for (const [pa, bytes] of c.pages) m.writePhysical(pa, bytes);
  if (c.mode === "i386-pae") {
    const pdpt = Number(c.registers.cr3 & 0xffffffe0n);
    const view = new DataView(m.ram.buffer, m.ram.byteOffset + pdpt, 32);
    for (let i = 0; i < 4; i++) view.setUint32(i * 8, view.getUint32(i * 8, true) & ~0x20, true);
  }
  const gp = m.setRegisters(c.registers);
  if (gp) throw new RangeError(`capture registers refused by the CPU: ${gp.reason}`);
  return m;
}

/** Reads a capture folder and loads it into a new Machine. */
export async function loadCapture(dir: string): Promise<Machine> {
  return captureMachine(await readCapture(dir));
}
