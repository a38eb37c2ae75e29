// Random and adversarial page tables, register values and accesses for the differential fuzz.
// A case is a small pool of table frames whose entries (at a few "hot" indices, so that random
// walks reach deep) point at each other, at themselves, past RAM, at random frames, with random
// flags, every reserved bit, PS at every level, and garbage; then register loads (valid and
// invalid) and a stream of translations, entry rewrites and register changes.

import { hex, type Case, type RegValues, type Step } from "./differential.js";

/** A small fast PRNG (sfc32) so that a seed reproduces a case exactly. */
export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9; this.b = 0x243f6a88; this.c = 0xb7e15162; this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor((this.u32() / 4294967296) * n); }
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
  /** A 64-bit value with a few random bits set. */
  sparse(n: number): bigint {
    let v = 0n;
    for (let i = 0; i < n; i++) v |= 1n << BigInt(this.int(64));
    return v;
  }
}

type Mode = "off" | "32-bit" | "pae" | "4-level" | "5-level";
const MASK64 = (1n << 64n) - 1n;

export interface GenOptions {
  /** Steps after the tables are written. */
  steps?: number;
  /** Machine.create extras (the TLB switch, once there is one). */
  machine?: Record<string, unknown>;
}

export function generateCase(rng: Rng, opts: GenOptions = {}): Case {
  const physAddrBits = rng.pick([32, 36, 39, 40, 46, 46, 46, 48, 52]);
  const ramBytes = rng.pick([1 << 20, 1 << 20, (1 << 20) + 4096 * (1 + rng.int(15))]);
  const frames = ramBytes / 4096;
  const mode: Mode = rng.pick(["off", "32-bit", "32-bit", "pae", "pae", "4-level", "4-level", "5-level", "5-level"]);
  const entryBytes = mode === "32-bit" ? 4 : 8;
  const perTable = mode === "32-bit" ? 1024 : 512;
  const steps: Step[] = [];

  // Table frames: a few, sometimes frame 0 and the last frame of RAM.
  const pool: bigint[] = [];
  const nPool = 2 + rng.int(7);
  while (pool.length < nPool) {
    const f = rng.chance(0.1) ? 0 : rng.chance(0.1) ? frames - 1 : rng.int(frames);
    const pa = BigInt(f) * 4096n;
    if (!pool.includes(pa)) pool.push(pa);
  }
  // Hot indices, shared by all levels, so random addresses follow the pointers.
  const hot: number[] = [];
  const nHot = 2 + rng.int(4);
  while (hot.length < nHot) {
    const i = rng.chance(0.2) ? 0 : rng.chance(0.2) ? perTable - 1 : rng.int(perTable);
    if (!hot.includes(i)) hot.push(i);
  }
  const pastRam = (): bigint =>
    rng.pick([
      BigInt(ramBytes),
      BigInt(ramBytes) + BigInt(rng.int(64)) * 4096n,
      (1n << BigInt(Math.min(physAddrBits, mode === "32-bit" ? 32 : 52))) - 4096n,
      0xfffff000n,
      rng.u64() & ((1n << 52n) - 4096n),
    ]);

  // Per case, how hostile the entries are: some cases walk deep through sane tables (rights,
  // A/D, large pages), others are mostly garbage.
  const hostility = rng.pick([0.03, 0.1, 0.3, 1]);
  const entry = (tableFrame: bigint): bigint => {
    if (!rng.chance(hostility)) {
      let e = (rng.chance(0.9) ? rng.pick(pool) : BigInt(rng.int(frames)) * 4096n) | 1n;
      e |= BigInt(rng.u32() & 0x17e); // RW US PWT PCD A D G at random, PS clear
      if (rng.chance(0.6)) e |= 6n;
      if (rng.chance(0.15)) e = (e & ~((1n << 30n) - 1n)) | 0x81n | (e & 0x17en); // an aligned large page
      if (mode !== "32-bit" && rng.chance(0.2)) e |= 1n << 63n;
      if ((mode === "4-level" || mode === "5-level") && rng.chance(0.3)) e |= BigInt(rng.int(16)) << 59n;
      return entryBytes === 4 ? e & 0xffffffffn : e;
    }
    let flags = (BigInt(rng.u32() & 0xfff) & ~0x80n) | 1n; // present, random low flags (A, D, G, ...)
    const ps = rng.chance(0.2); // PS: a large page where legal, reserved in PML4Es/PML5Es, ignored in 32-bit paging without PSE
    if (ps) flags |= 0x80n;
    if (rng.chance(0.5)) flags |= 0x6n; // U/S and R/W often both set, so rights faults are not all there is
    let addr: bigint;
    switch (rng.int(8)) {
      case 0: return rng.chance(0.5) ? 0n : rng.u64() & ~1n; // not present (garbage elsewhere)
      case 1: addr = tableFrame; break; // self-reference
      case 2: addr = pastRam(); break;
      case 3: addr = BigInt(rng.int(frames)) * 4096n; break; // any frame
      case 4: if (rng.chance(0.5)) return rng.chance(0.5) ? MASK64 : rng.u64(); // all ones, garbage
        addr = rng.pick(pool); break;
      default: addr = rng.pick(pool); // another table (loops and recursive mappings included)
    }
    if (ps && rng.chance(0.7)) addr &= ~((1n << 30n) - 1n); // aligned for any large page
    let e = addr | flags;
    if (rng.chance(0.25)) e |= 1n << 63n; // XD (reserved without NXE)
    if (rng.chance(mode === "pae" ? 0.05 : 0.3)) e |= BigInt(rng.int(16)) << 59n; // protection key (reserved in PAE)
    if (rng.chance(0.06)) e |= rng.sparse(1) & ~0xfffn; // one random high bit: often a reserved one
    if (rng.chance(0.05)) e |= BigInt(rng.int(256)) << 13n; // large-page low address bits (reserved for 2M/1G)
    return entryBytes === 4 ? e & 0xffffffffn : e;
  };
  const poke = (table: bigint, index: number): Step => ({ op: "poke", pa: hex(table + BigInt(index * entryBytes)), size: entryBytes, value: hex(entry(table)) });

  for (const t of pool) {
    for (const i of hot) if (rng.chance(0.85)) steps.push(poke(t, i));
    for (let k = rng.int(4); k > 0; k--) steps.push(poke(t, rng.int(perTable)));
  }

  // PAE: a PDPT at a 32-byte aligned spot inside a pool frame, mostly valid PDPTEs.
  let cr3 = rng.pick(pool);
  if (mode === "pae") {
    cr3 += BigInt(32 * rng.int(128));
    for (let i = 0; i < 4; i++) {
      let e = rng.pick(pool) | (rng.chance(0.85) ? 1n : 0n);
      if (rng.chance(0.3)) e |= 0x18n; // PWT, PCD are allowed
      if (rng.chance(0.08)) e |= rng.sparse(1); // maybe a reserved bit: MOV CR3 must #GP
      steps.push({ op: "poke", pa: hex(cr3 + BigInt(8 * i)), size: 8, value: hex(e) });
    }
  }

  const regs = registersFor(rng, mode, cr3, physAddrBits);
  steps.push({ op: "regs", values: regs });

  const va = (): bigint => {
    if (rng.chance(0.05)) return rng.u64() & (mode === "4-level" || mode === "5-level" ? MASK64 : 0xffffffffn);
    const off = BigInt(rng.int(4096));
    const ix = (): bigint => BigInt(rng.chance(0.9) ? rng.pick(hot) : rng.int(perTable));
    switch (mode) {
      case "off":
        return rng.u64() & 0xffffffffn;
      case "32-bit":
        return (ix() << 22n) | (ix() << 12n) | off;
      case "pae":
        return (BigInt(rng.int(4)) << 30n) | ((ix() & 511n) << 21n) | ((ix() & 511n) << 12n) | off;
      default: {
        const levels = mode === "5-level" ? 5 : 4;
        let v = off;
        for (let l = 1; l <= levels; l++) v |= ix() << BigInt(12 + 9 * (l - 1));
        const top = BigInt(12 + 9 * levels - 1);
        if ((v >> top) & 1n) v |= MASK64 ^ ((1n << top) - 1n); // sign-extend: canonical
        if (rng.chance(0.05)) v ^= 1n << BigInt(Number(top) + 1 + rng.int(63 - Number(top))); // non-canonical
        return v & MASK64;
      }
    }
  };
  const access = (): number => {
    let a = 0;
    const kind = rng.int(3);
    if (kind === 1) a |= 1; else if (kind === 2) a |= 4;
    if (rng.chance(0.5)) a |= 2;
    if (rng.chance(0.3)) a |= 8;
    if (rng.chance(0.15)) a |= 16;
    if (rng.chance(0.01)) a |= 5; // write and fetch together: a RangeError
    return a;
  };

  const n = opts.steps ?? 60;
  const long = mode === "4-level" || mode === "5-level";
  // With caches: invalidations of every kind, and addresses asked again after table writes so
  // that stale entries get the chance to answer.
  const asked: bigint[] = [];
  const again = (): bigint => (asked.length && rng.chance(0.5) ? rng.pick(asked) : va());
  for (let k = 0; k < n; k++) {
    const r = rng.u32() / 4294967296;
    if (opts.machine && asked.length && r < 0.12) {
      // A stale-entry probe: translate X, rewrite X's entry at one level in every table of the
      // pool (one of them is the one X's walk uses), translate X again (a cached entry may
      // answer), invalidate (or not), translate X once more.
      const x = rng.pick(asked);
      const level = 1 + rng.int(mode === "32-bit" || mode === "pae" ? 2 : mode === "5-level" ? 5 : 4);
      const shift = mode === "32-bit" ? (level === 2 ? 22n : 12n) : BigInt(12 + 9 * (level - 1));
      const index = Number((x >> shift) & BigInt(perTable - 1));
      steps.push({ op: "translate", va: hex(x), access: access() });
      for (const t of pool) steps.push(poke(t, index));
      steps.push({ op: "translate", va: hex(x), access: access() });
      const inv = rng.int(10);
      if (inv === 0) steps.push({ op: "invlpg", va: hex(x) });
      else if (inv <= 4) steps.push({ op: "invpcid", type: inv - 1, pcid: rng.chance(0.5) ? 0 : rng.int(4), va: hex(x) });
      else if (inv === 5) steps.push({ op: "cr3", value: hex(rng.pick(pool) + (mode === "pae" ? BigInt(32 * rng.int(128)) : 0n) | (long && rng.chance(0.5) ? BigInt(rng.int(4)) : 0n) | (long && rng.chance(0.3) ? 1n << 63n : 0n)) });
      else if (inv === 6) steps.push({ op: "cr4xor", mask: hex(rng.chance(0.8) ? 1n << 7n : 1n << 17n) }); // PGE (or PCIDE) toggle
      else if (inv === 7) steps.push({ op: "regs", values: { cr3: hex(rng.pick(pool) + (mode === "pae" ? BigInt(32 * rng.int(128)) : 0n) | (long && rng.chance(0.3) ? 1n << 63n : 0n)) } });
      else if (inv === 8) steps.push({ op: "regs", values: registerChange(rng, mode, pool, physAddrBits) });
      steps.push({ op: "translate", va: hex(x), access: access() });
    } else if (opts.machine && r < 0.17) {
      steps.push({ op: "invlpg", va: hex(again()) });
    } else if (opts.machine && r < 0.21) {
      const type = rng.chance(0.03) ? 4 + rng.int(2) : rng.int(4);
      const pcid = rng.chance(0.03) ? 0x1000 : rng.chance(0.5) ? 0 : rng.int(4);
      steps.push({ op: "invpcid", type, pcid, va: hex(again()) });
    } else if (opts.machine && r < 0.26) {
      let cr3 = rng.pick(pool);
      if (mode === "pae") cr3 += BigInt(32 * rng.int(128));
      if (long && rng.chance(0.6)) cr3 |= BigInt(rng.int(4)); // a PCID
      if (long && rng.chance(0.4)) cr3 |= 1n << 63n; // no flush (#GP without PCIDE)
      steps.push({ op: "cr3", value: hex(cr3) });
    } else if (opts.machine && r < 0.45) {
      const v = again();
      asked.push(v);
      steps.push({ op: "translate", va: hex(v), access: access() });
    } else if (r < 0.75) {
      const v = va();
      asked.push(v);
      steps.push({ op: "translate", va: hex(v), access: access() });
    } else if (r < 0.87) {
      const t = rng.pick(pool);
      const i = rng.chance(0.8) ? rng.pick(hot) : rng.int(perTable);
      steps.push(poke(t, i));
    } else {
      steps.push({ op: "regs", values: registerChange(rng, mode, pool, physAddrBits) });
    }
  }
  return { ramBytes, physAddrBits, ...(opts.machine ? { machine: opts.machine } : {}), steps };
}

/** Registers entering `mode` from RESET, with random valid extras and, rarely, invalid ones. */
function registersFor(rng: Rng, mode: Mode, cr3: bigint, m: number): RegValues {
  let cr0 = 0x11n; // PE, ET
  let cr4 = 0n;
  let efer = 0n;
  if (mode !== "off") cr0 |= 1n << 31n;
  if (rng.chance(0.6)) cr0 |= 1n << 16n; // WP
  if (rng.chance(0.1)) cr0 |= 3n << 29n; // CD + NW
  if (rng.chance(0.02)) cr0 |= 1n << 29n; // NW alone: #GP
  if (mode === "pae" || mode === "4-level" || mode === "5-level") cr4 |= 1n << 5n;
  if (mode === "4-level" || mode === "5-level") efer |= 1n << 8n;
  if (mode === "5-level") cr4 |= 1n << 12n;
  if (mode === "32-bit" && rng.chance(0.2)) cr4 |= 1n << 12n; // LA57 outside IA-32e: no effect
  for (const b of [4, 7, 9, 10, 20, 21, 22]) if (rng.chance(0.4)) cr4 |= 1n << BigInt(b); // PSE PGE OSFXSR OSXMMEXCPT SMEP SMAP PKE
  if (rng.chance(0.05)) cr4 |= 1n << 23n; // CET (needs WP)
  if ((mode === "4-level" || mode === "5-level") && rng.chance(0.3)) cr4 |= 1n << 17n; // PCIDE
  if (rng.chance(0.6)) efer |= 1n << 11n; // NXE
  if (rng.chance(0.3)) efer |= 1n; // SCE
  if (rng.chance(0.03)) cr4 |= 1n << BigInt(rng.pick([15, 25, 40, 63])); // reserved: #GP
  if (rng.chance(0.03)) efer |= 1n << BigInt(rng.pick([1, 9, 12, 20, 63])); // reserved: #GP
  if (rng.chance(0.03)) cr0 |= 1n << BigInt(32 + rng.int(32)); // reserved: #GP
  let c3 = cr3;
  if ((mode === "4-level" || mode === "5-level") && rng.chance(0.1)) c3 |= BigInt(rng.int(4096)); // PCID bits / ignored bits
  if ((mode === "4-level" || mode === "5-level") && rng.chance(0.02)) c3 |= 1n << BigInt(m + rng.int(64 - m)); // above MAXPHYADDR: #GP
  if ((mode === "32-bit") && rng.chance(0.2)) c3 |= BigInt(rng.int(4096)) & ~0x18n; // ignored low bits
  return { cr0: hex(cr0), cr3: hex(c3), cr4: hex(cr4), efer: hex(efer), pkru: hex(BigInt(rng.u32())) };
}

/** A register write during the run: an address-space switch, a toggle, or something a CPU refuses. */
function registerChange(rng: Rng, mode: Mode, pool: bigint[], m: number): RegValues {
  switch (rng.int(9)) {
    case 0:
    case 1: {
      let cr3 = rng.pick(pool);
      if (mode === "pae") cr3 += BigInt(32 * rng.int(128));
      if ((mode === "4-level" || mode === "5-level") && rng.chance(0.2)) cr3 |= 1n << 63n; // no-flush hint (or #GP)
      return { cr3: hex(cr3) };
    }
    case 2: return { pkru: hex(BigInt(rng.u32())) };
    case 3: return { cr0: hex(0x80000011n | (rng.chance(0.5) ? 1n << 16n : 0n)) }; // WP toggle (PG stays)
    case 4: {
      let cr4 = (mode === "32-bit" ? 0n : 1n << 5n) | (mode === "5-level" ? 1n << 12n : 0n);
      for (const b of [4, 7, 17, 20, 21, 22, 23]) if (rng.chance(0.4)) cr4 |= 1n << BigInt(b);
      return { cr4: hex(cr4) };
    }
    case 5: return { efer: hex((mode === "4-level" || mode === "5-level" ? 1n << 8n : 0n) | (rng.chance(0.5) ? 1n << 11n : 0n)) };
    case 6: return { cr4: hex(rng.u64() & rng.u64()) }; // garbage: mostly #GP
    case 7: return { efer: hex(rng.chance(0.5) ? 0n : rng.sparse(2)) }; // LME flips: #GP while paging
    default: return { cr0: hex(rng.chance(0.15) ? 0x11n : rng.sparse(3)) }; // paging off (rarely: it ends the walks), or garbage
  }
}
