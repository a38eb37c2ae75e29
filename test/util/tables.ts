// A tiny page-table builder for tests: writes entries into a Machine's RAM in each mode's
// format, independently of the product's code.
import type { Machine, Registers } from "../../src/index.js";

export type Mode = "32-bit" | "pae" | "4-level" | "5-level";

interface Shape {
  entry: 4 | 8;
  /** Shift of each level's index, top level first (PAE's PDPT included). */
  shifts: number[];
  bits: number[];
}

const SHAPES: Record<Mode, Shape> = {
  "32-bit": { entry: 4, shifts: [22, 12], bits: [10, 10] },
  pae: { entry: 8, shifts: [30, 21, 12], bits: [2, 9, 9] },
  "4-level": { entry: 8, shifts: [39, 30, 21, 12], bits: [9, 9, 9, 9] },
  "5-level": { entry: 8, shifts: [48, 39, 30, 21, 12], bits: [9, 9, 9, 9, 9] },
};

export const P = 1n, RW = 2n, US = 4n, A = 0x20n, D = 0x40n, PS = 0x80n, G = 0x100n, XD = 1n << 63n;

export class Tables {
  readonly shape: Shape;
  root: bigint;
  #next: bigint;

  constructor(readonly m: Machine, readonly mode: Mode, firstFree = 0x10_0000n) {
    this.shape = SHAPES[mode];
    this.#next = firstFree;
    this.root = this.alloc();
  }

  alloc(): bigint {
    const pa = this.#next;
    this.#next += 0x1000n;
    this.m.ram.fill(0, Number(pa), Number(pa) + 4096);
    return pa;
  }

  read(pa: bigint): bigint {
    const dv = new DataView(this.m.ram.buffer, this.m.ram.byteOffset);
    return this.shape.entry === 4 ? BigInt(dv.getUint32(Number(pa), true)) : dv.getBigUint64(Number(pa), true);
  }

  write(pa: bigint, value: bigint): void {
    const dv = new DataView(this.m.ram.buffer, this.m.ram.byteOffset);
    if (this.shape.entry === 4) dv.setUint32(Number(pa), Number(value & 0xffffffffn), true);
    else dv.setBigUint64(Number(pa), value, true);
  }

  /** Physical address of the entry for va at depth (0 = top), creating tables above it. */
  slot(va: bigint, depth: number, tableFlags = P | RW | US): bigint {
    const { shifts, bits, entry } = this.shape;
    let table = this.root;
    for (let i = 0; ; i++) {
      const idx = (va >> BigInt(shifts[i]!)) & ((1n << BigInt(bits[i]!)) - 1n);
      const pa = table + idx * BigInt(entry);
      if (i === depth) return pa;
      let e = this.read(pa);
      if (!(e & P)) {
        const t = this.alloc();
        // PAE PDPTEs hold only P (R/W and U/S are reserved there).
        e = t | (this.mode === "pae" && i === 0 ? P : tableFlags);
        this.write(pa, e);
      }
      table = e & (entry === 4 ? 0xfffff000n : 0x000ffffffffff000n);
    }
  }

  /** Maps va to pa with the leaf at depth (default: the last level, a 4 KiB page). */
  map(va: bigint, pa: bigint, flags: bigint, depth = this.shape.shifts.length - 1): bigint {
    const slot = this.slot(va, depth);
    const large = depth < this.shape.shifts.length - 1;
    this.write(slot, pa | flags | (large ? PS : 0n));
    return slot;
  }

  /** Registers that select this mode with these tables (PGE on; extra CR4/EFER bits ORed). */
  registers(extra: { cr0?: bigint; cr4?: bigint; efer?: bigint; pcid?: bigint } = {}): Partial<Registers> {
    const cr0 = 0x80010031n | (extra.cr0 ?? 0n); // PG, WP, ET, PE
    const cr4Mode = { "32-bit": 0x10n, pae: 0x20n, "4-level": 0x20n, "5-level": 0x1020n }[this.mode];
    const efer = this.mode === "4-level" || this.mode === "5-level" ? 0xd00n : 0x800n; // LME|LMA|NXE, NXE
    return { cr0, cr3: this.root | (extra.pcid ?? 0n), cr4: cr4Mode | 0x80n | (extra.cr4 ?? 0n), efer: efer | (extra.efer ?? 0n) };
  }
}
