// A tiny page-table writer for tests and benchmarks. It writes entries into a Machine's RAM
// byte by byte in the SDM formats (Vol. 3A Tables 4-4 .. 4-20), without using the product's
// walker or any of its code, so tests can check the walker against tables built independently.

import { Machine, type Registers } from "../src/index.js";

export type Mode = "32-bit" | "pae" | "4-level" | "5-level";
export const MODES: readonly Mode[] = ["32-bit", "pae", "4-level", "5-level"];

export const P = 1n << 0n;
export const RW = 1n << 1n;
export const US = 1n << 2n;
export const A = 1n << 5n;
export const D = 1n << 6n;
export const PS = 1n << 7n;
export const G = 1n << 8n;
export const XD = 1n << 63n;

/** In-memory levels of each mode, top first, with the bit position of each level's index. */
interface Geometry {
  entryBytes: 4 | 8;
  /** Levels read from memory: 2 (32-bit, PAE below the PDPTE registers), 4 or 5. */
  levels: number;
  /** shift[level], level 1 = PTE. */
  shift: readonly number[];
  indexBits: number;
}

export const GEOMETRY: Record<Mode, Geometry> = {
  "32-bit": { entryBytes: 4, levels: 2, shift: [0, 12, 22], indexBits: 10 },
  pae: { entryBytes: 8, levels: 2, shift: [0, 12, 21], indexBits: 9 },
  "4-level": { entryBytes: 8, levels: 4, shift: [0, 12, 21, 30, 39], indexBits: 9 },
  "5-level": { entryBytes: 8, levels: 5, shift: [0, 12, 21, 30, 39, 48], indexBits: 9 },
};

/** Bytes mapped by a leaf at `level` in `mode`. */
export function pageBytes(mode: Mode, level: number): bigint {
  return 1n << BigInt(GEOMETRY[mode].shift[level]!);
}

/** Options that select the rights-related control bits (all off by default). */
export interface Controls {
  wp?: boolean;
  pse?: boolean;
  smep?: boolean;
  smap?: boolean;
  pke?: boolean;
  nxe?: boolean;
  pge?: boolean;
  pkru?: bigint;
}

/** Control registers (from the SDM's bit positions) that select `mode` with root table `cr3`. */
export function registersFor(mode: Mode, cr3: bigint, c: Controls = {}): Registers {
  const bit = (on: boolean | undefined, n: number) => (on ? 1n << BigInt(n) : 0n);
  // CR0: PE(0) ET(4) WP(16) PG(31). CR4: PSE(4) PAE(5) PGE(7) LA57(12) SMEP(20) SMAP(21) PKE(22).
  // EFER: LME(8) NXE(11).
  const cr0 = 0x80000011n | bit(c.wp, 16);
  const cr4 =
    bit(c.pse, 4) | bit(mode !== "32-bit", 5) | bit(c.pge, 7) | bit(mode === "5-level", 12) |
    bit(c.smep, 20) | bit(c.smap, 21) | bit(c.pke, 22);
  const efer = bit(mode === "4-level" || mode === "5-level", 8) | bit(c.nxe, 11);
  return { cr0, cr3, cr4, efer, pkru: c.pkru ?? 0n };
}

/** Page tables of one mode in a Machine's RAM, with a bump allocator for table pages. */
export class PageTables {
  readonly geo: Geometry;
  /** CR3's table address: the top table (32-bit, 4/5-level) or the 32-byte PDPT (PAE). */
  readonly root: bigint;
  #view: DataView;
  #next: bigint;
  #end: bigint;

  /** Tables are allocated from [base, end) (4 KiB aligned); PAE's PDPT sits at pdptAt. */
  constructor(readonly m: Machine, readonly mode: Mode, base = 0x10000n, end?: bigint, pdptAt?: bigint) {
    this.geo = GEOMETRY[mode];
    this.#view = new DataView(m.ram.buffer, m.ram.byteOffset, m.ram.byteLength);
    this.#next = base;
    this.#end = end ?? BigInt(m.ramBytes);
    if (mode === "pae") {
      this.root = pdptAt ?? this.alloc();
    } else {
      this.root = this.alloc();
    }
  }

  /** A zeroed 4 KiB page for a table. */
  alloc(): bigint {
    const pa = this.#next;
    if (pa + 4096n > this.#end) throw new Error("test page tables: out of table pages");
    this.#next += 4096n;
    this.m.ram.fill(0, Number(pa), Number(pa) + 4096);
    return pa;
  }

  read(pa: bigint): bigint {
    return this.geo.entryBytes === 4
      ? BigInt(this.#view.getUint32(Number(pa), true))
      : this.#view.getBigUint64(Number(pa), true);
  }

  write(pa: bigint, entry: bigint): void {
    if (this.geo.entryBytes === 4) this.#view.setUint32(Number(pa), Number(entry & 0xffffffffn), true);
    else this.#view.setBigUint64(Number(pa), entry, true);
  }

  /** Table-address bits of a non-leaf entry as this helper writes them. */
  #tableOf(entry: bigint): bigint {
    return this.geo.entryBytes === 4 ? entry & 0xfffff000n : entry & 0x000ffffffffff000n;
  }

  /** Address of the PAE PDPTE for va. */
  pdpteAt(va: bigint): bigint {
    return this.root + ((va >> 30n) & 3n) * 8n;
  }

  /** Address of va's entry in the table at `table`, level `level`. */
  entryAt(table: bigint, level: number, va: bigint): bigint {
    const idx = (va >> BigInt(this.geo.shift[level]!)) & ((1n << BigInt(this.geo.indexBits)) - 1n);
    return table + idx * BigInt(this.geo.entryBytes);
  }

  /**
   * Maps va to pa with a leaf at leafLevel (1 = 4 KiB; 2 = 2/4 MiB with PS; 3 = 1 GiB with PS).
   * Missing tables are allocated; entries above the leaf get `upper` flags. Returns the
   * address of the entry used at each level (index = level; PAE's PDPTE at index 3).
   */
  map(va: bigint, pa: bigint, leafFlags: bigint, leafLevel = 1, upper = P | RW | US): bigint[] {
    const path: bigint[] = [];
    let table = this.root;
    if (this.mode === "pae") {
      const at = this.pdpteAt(va);
      path[3] = at;
      let e = this.read(at);
      if (!(e & P)) this.write(at, (e = this.alloc() | P));
      table = this.#tableOf(e);
    }
    for (let level = this.geo.levels; level > leafLevel; level--) {
      const at = this.entryAt(table, level, va);
      path[level] = at;
      let e = this.read(at);
      if (!(e & P)) e = this.alloc();
      this.write(at, this.#tableOf(e) | upper);
      table = this.#tableOf(e);
    }
    const at = this.entryAt(table, leafLevel, va);
    path[leafLevel] = at;
    this.write(at, pa | leafFlags | (leafLevel > 1 ? PS : 0n));
    return path;
  }

  /** Registers for this mode with CR3 = root. */
  registers(c: Controls = {}): Registers {
    return registersFor(this.mode, this.root, c);
  }
}

/** A machine in `mode` with fresh page tables (registers loaded; throws if refused). */
export async function pagedMachine(
  mode: Mode,
  c: Controls = {},
  options: { ramBytes?: number; physAddrBits?: number } = {},
): Promise<{ m: Machine; pt: PageTables }> {
  const m = await Machine.create({ ramBytes: options.ramBytes ?? 4 << 20, physAddrBits: options.physAddrBits });
  const pt = new PageTables(m, mode);
  const gp = m.setRegisters(pt.registers(c));
  if (gp) throw new Error(`registers refused: ${gp.reason}`);
  return { m, pt };
}

/** MOV CR3 with the current value: flushes non-global TLB entries and paging-structure caches. */
export function reloadCr3(m: Machine): void {
  const gp = m.setRegisters({ cr3: m.registers().cr3 });
  if (gp) throw new Error(`CR3 reload refused: ${gp.reason}`);
}
