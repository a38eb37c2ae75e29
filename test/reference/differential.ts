// Runs one case (a list of steps) on a real Machine and on the reference model side by side and
// reports the first disagreement: a translation result, the bytes of the entries the walk used,
// all of RAM at the end, guard bytes outside RAM, or any exception that is not a typed misuse
// error (a WebAssembly trap, an internal error). Cases are plain JSON (bigints as hex strings) so
// that a failing fuzz case can be minimized and kept as a regression file.
//
// With a TLB or paging-structure caches (`machine` options in the case), nothing is flushed
// behind the case's back: table writes stay unflushed until the case's own INVLPG, INVPCID or
// register writes, and the Machine's answer must be one of those test/reference/stale.ts
// permits (the fresh walk, or what cached state not yet invalidated gives). Its A/D writes must
// then only set A or D bits in RAM (which entries get them depends on what was cached).

import { Machine, type Access, type Registers } from "../../src/index.js";
import { CORE } from "../../src/machine/machine.js";
import { RefMachine, type RefResult } from "./walker.js";
import { StaleModel } from "./stale.js";

export type Hex = string;
export type RegValues = Partial<Record<keyof Registers, Hex>>;

export type Step =
  /** A little-endian store of `size` bytes into RAM (the guest writing a table entry). */
  | { op: "poke"; pa: Hex; size: 4 | 8; value: Hex }
  | { op: "regs"; values: RegValues }
  /** access: bit 0 write, 1 user, 2 fetch, 3 ac, 4 probe. */
  | { op: "translate"; va: Hex; access: number }
  /** INVLPG. */
  | { op: "invlpg"; va: Hex }
  /** INVPCID type (0-3), descriptor PCID and address. */
  | { op: "invpcid"; type: number; pcid: number; va: Hex }
  /** MOV to CR3 alone, through Machine.movCr3 (bit 63 is the no-flush hint with CR4.PCIDE). */
  | { op: "cr3"; value: Hex }
  /** setRegisters({ cr4: cr4 ^ mask }): a CR4 bit toggled (PGE, PCIDE), whatever CR4 holds. */
  | { op: "cr4xor"; mask: Hex };

export interface Case {
  ramBytes: number;
  physAddrBits: number;
  /** Machine.create options beyond RAM (for example the TLB switch once it exists). */
  machine?: Record<string, unknown>;
  steps: Step[];
}

export interface Mismatch {
  step: number;
  what: string;
  expected: unknown;
  actual: unknown;
}

const hex = (v: bigint): Hex => "0x" + v.toString(16);
export { hex };

export function accessOf(bits: number): Access {
  const a: Access = {};
  if (bits & 1) a.write = true;
  if (bits & 2) a.user = true;
  if (bits & 4) a.fetch = true;
  if (bits & 8) a.ac = true;
  if (bits & 16) a.probe = true;
  return a;
}

function regsOf(values: RegValues): Partial<Registers> {
  const out: Partial<Registers> = {};
  for (const [k, v] of Object.entries(values)) out[k as keyof Registers] = BigInt(v);
  return out;
}

/** Blocks of linear memory below RAM that a walk has no business writing. */
function guardRegions(m: Machine): Array<[number, number]> {
  const core = m[CORE];
  const out: Array<[number, number]> = [];
  // Between the module's static data and the first block: nothing lives there.
  const first = Math.min(...Object.values(core.blocks).map((b) => b.offset));
  const heap = core.exports.heapBase();
  if (first > heap) out.push([heap, first - heap]);
  for (const [name, b] of Object.entries(core.blocks)) {
    if (/ctrl|tlb|pwc|batch/i.test(name)) continue; // the walk's own result and caches
    out.push([b.offset, b.bytes]);
  }
  // The gap between the last block and RAM.
  const end = Math.max(...Object.values(core.blocks).map((b) => b.offset + b.bytes));
  if (core.ramOffset > end) out.push([end, core.ramOffset - end]);
  return out;
}

/** Normalizes what Machine.translate returned (or threw) to the reference's shape. */
function actualResult(m: Machine, va: bigint, access: Access, withMemRefs: boolean): unknown {
  try {
    const r = m.translate(va, access);
    if (r.fault === "page") return { fault: "page", errorCode: r.errorCode, level: r.level };
    if (r.fault === "gp") return { fault: "gp" };
    const o: Record<string, unknown> = {
      pa: r.pa, pageSize: r.pageSize, level: r.level, ...(r.entry === undefined ? {} : { entry: r.entry }),
      write: r.write, user: r.user, execute: r.execute, global: r.global,
    };
    if (withMemRefs) o.memRefs = r.memRefs;
    return o;
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) return { error: e.name };
    return { trap: String(e) };
  }
}

function expectedResult(r: RefResult, withMemRefs: boolean): unknown {
  if ("error" in r || r.fault) return r;
  const { memRefs, ...rest } = r;
  return withMemRefs ? { ...rest, memRefs } : rest;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a, big) === JSON.stringify(b, big);
function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? hex(v) : v;
}
export const show = (v: unknown): string => JSON.stringify(v, big);

export interface RunOptions {
  /** Compare memRefs (paging-structure reads): only meaningful without a TLB. */
  memRefs?: boolean;
  /** Counts of what the run exercised, added to. */
  coverage?: Coverage;
}

/** What a set of runs exercised (for coverage floors). */
export interface Coverage {
  /** Successful paged translations by page size (4096, 2 MiB, 4 MiB, 1 GiB). */
  ok: Record<number, number>;
  /** Answers that were permitted but differed from a fresh walk (a stale cached entry used). */
  stale: number;
  /** Page faults with RSVD set. */
  rsvd: number;
  /** #GP: non-canonical translations, refused register writes, refused INVPCIDs. */
  gp: number;
  /** INVLPG, INVPCID by type, CR3 writes with and without the no-flush bit. */
  invlpg: number;
  invpcid: number[];
  cr3Flush: number;
  cr3NoFlush: number;
  /** Cases with at least one successful paged translation, of all cases. */
  casesWithOk: number;
  cases: number;
}

export function newCoverage(): Coverage {
  return { ok: { 4096: 0, [2 << 20]: 0, [4 << 20]: 0, [1 << 30]: 0 }, stale: 0, rsvd: 0, gp: 0, invlpg: 0, invpcid: [0, 0, 0, 0], cr3Flush: 0, cr3NoFlush: 0, casesWithOk: 0, cases: 0 };
}

/** INVPCID's #GP conditions (SDM Vol. 2, INVPCID), as the reference sees them. */
function invpcidGp(ref: RefMachine, type: number, pcid: number, va: bigint): boolean {
  if (type > 3 || pcid > 0xfff) return true;
  if (type <= 1 && pcid !== 0 && !((ref.regs.cr4 >> 17n) & 1n)) return true;
  if (type === 0) {
    const top = ref.mode() === "5-level" ? 56 : 47;
    const upper = va >> BigInt(top);
    if (upper !== 0n && upper !== (1n << BigInt(64 - top)) - 1n) return true;
  }
  return false;
}

/** Runs the case; returns the first mismatch, or null if the Machine agreed everywhere. */
export async function runCase(c: Case, opts: RunOptions = {}): Promise<Mismatch | null> {
  const withMemRefs = opts.memRefs ?? !c.machine;
  // Without `machine` options the bare walker is compared (no TLB, no paging-structure caches).
  const caches = c.machine ?? { tlb: false, pwc: false };
  const cached = caches.tlb !== false || caches.pwc !== false;
  const m = await Machine.create({ ramBytes: c.ramBytes, physAddrBits: c.physAddrBits, ...caches } as never);
  const cov = opts.coverage;
  if (cov) cov.cases++;
  let sawOk = false;
  const ref = new RefMachine(c.ramBytes, c.physAddrBits);
  const vas = c.steps.flatMap((st) => (st.op === "translate" ? [BigInt(st.va)] : []));
  const stale = cached ? new StaleModel(ref, vas) : null;
  const mem = new Uint8Array(m[CORE].memory.buffer);
  const guards = guardRegions(m);
  // Fill the guarded regions with a pattern and keep a copy.
  const saved = guards.map(([o, n]) => {
    for (let i = 0; i < n; i++) mem[o + i] = (o + i * 7) & 0xff;
    return mem.slice(o, o + n);
  });
  const checkGuards = (step: number): Mismatch | null => {
    for (let g = 0; g < guards.length; g++) {
      const [o, n] = guards[g]!;
      const now = mem.subarray(o, o + n);
      const want = saved[g]!;
      for (let i = 0; i < n; i++) {
        if (now[i] !== want[i]) return { step, what: `guard byte at linear ${o + i} changed`, expected: want[i], actual: now[i] };
      }
    }
    return null;
  };
  const checkRam = (step: number): Mismatch | null => {
    const a = m.ram, b = ref.ram;
    if (Buffer.compare(a, b) === 0) return null;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) return { step, what: `RAM byte at 0x${i.toString(16)}`, expected: b[i], actual: a[i] };
    }
    return null;
  };

  for (let s = 0; s < c.steps.length; s++) {
    const st = c.steps[s]!;
    if (st.op === "poke") {
      const pa = BigInt(st.pa), v = BigInt(st.value);
      const bytes = new Uint8Array(st.size);
      for (let i = 0; i < st.size; i++) bytes[i] = Number((v >> BigInt(8 * i)) & 0xffn);
      m.writePhysical(pa, bytes);
      ref.writePhys(pa, st.size, v);
    } else if (st.op === "regs" || st.op === "cr3" || st.op === "cr4xor") {
      const values: Partial<Registers> =
        st.op === "regs" ? regsOf(st.values) : st.op === "cr3" ? { cr3: BigInt(st.value) } : { cr4: ref.regs.cr4 ^ BigInt(st.mask) };
      const before = { ...ref.regs };
      let expected: unknown, actual: unknown;
      try {
        expected = ref.setRegisters(values);
      } catch (e) {
        expected = { error: (e as Error).name };
      }
      try {
        actual = (st.op === "cr3" ? m.movCr3(values.cr3!) : m.setRegisters(values)) ? "gp" : null;
      } catch (e) {
        actual = e instanceof RangeError || e instanceof TypeError ? { error: e.name } : { trap: String(e) };
      }
      if (!same(expected, actual)) return { step: s, what: st.op === "cr3" ? "movCr3" : "setRegisters", expected, actual };
      if (cov && expected === "gp") cov.gp++;
      if (expected === null) {
        stale?.registersWritten(before, values.cr3);
        if (cov && values.cr3 !== undefined) {
          if ((ref.regs.cr4 >> 17n) & 1n && (values.cr3 >> 63n) & 1n) cov.cr3NoFlush++;
          else cov.cr3Flush++;
        }
      }
      const want = ref.regs, got = m.registers();
      if (!same(want, got)) return { step: s, what: "registers after setRegisters", expected: want, actual: got };
    } else if (st.op === "invlpg") {
      m.invlpg(BigInt(st.va));
      stale?.invlpg(BigInt(st.va));
      if (cov) cov.invlpg++;
    } else if (st.op === "invpcid") {
      const va = BigInt(st.va);
      const expected = invpcidGp(ref, st.type, st.pcid, va) ? "gp" : null;
      let actual: unknown;
      try {
        actual = m.invpcid(st.type, st.pcid, va) ? "gp" : null;
      } catch (e) {
        actual = e instanceof RangeError || e instanceof TypeError ? { error: e.name } : { trap: String(e) };
      }
      if (!same(expected, actual)) return { step: s, what: "invpcid", expected, actual };
      if (expected === null) stale?.invpcid(st.type, st.pcid, va);
      if (cov) {
        if (expected === "gp") cov.gp++;
        else cov.invpcid[st.type]!++;
      }
    } else if (stale) {
      const va = BigInt(st.va);
      const access = accessOf(st.access);
      const { fresh, all } = stale.permitted(va, access);
      const norm = (r: RefResult): Record<string, unknown> => {
        const o = expectedResult(r, false) as Record<string, unknown>;
        delete o.entry;
        return o;
      };
      const actual = actualResult(m, va, access, false) as Record<string, unknown>;
      delete actual.entry;
      const permitted = all.map(norm);
      if (!permitted.some((p) => same(p, actual))) {
        const uniq = [...new Set(permitted.map((p) => show(p)))].map((p) => JSON.parse(p) as unknown);
        return { step: s, what: "translate (not a permitted result)", expected: uniq.length === 1 ? uniq[0] : uniq, actual };
      }
      if (cov) count(cov, actual, !same(norm(fresh), actual));
      if (actual.pa !== undefined && ref.mode() !== "off") sawOk = true;
      // A/D writes: only A and D bits set, and only in RAM.
      const a = m.ram, b = ref.ram;
      if (Buffer.compare(a, b) !== 0) {
        for (let i = 0; i < a.length; i++) {
          if (a[i] === b[i]) continue;
          if ((a[i]! & ~0x60) !== (b[i]! & ~0x60) || (a[i]! & b[i]!) !== b[i]) {
            return { step: s, what: `RAM byte at 0x${i.toString(16)} changed beyond A/D`, expected: b[i], actual: a[i] };
          }
          b[i] = a[i]!;
        }
      }
      if (actual.fault === "page" && !access.probe) stale.pageFault(va);
    } else {
      const va = BigInt(st.va);
      const access = accessOf(st.access);
      const expected = expectedResult(ref.translate(va, access), withMemRefs) as Record<string, unknown>;
      const actual = actualResult(m, va, access, withMemRefs) as Record<string, unknown>;
      if (!same(expected, actual)) return { step: s, what: "translate", expected, actual };
      if (cov) count(cov, actual, false);
      if (actual.pa !== undefined && ref.mode() !== "off") sawOk = true;
      for (const pa of ref.lastUsed) {
        for (let i = 0n; i < 8n; i++) {
          const p = pa + i;
          if (p >= BigInt(c.ramBytes)) continue;
          if (m.ram[Number(p)] !== ref.ram[Number(p)]) {
            return { step: s, what: `entry byte at 0x${p.toString(16)} after the walk`, expected: ref.ram[Number(p)], actual: m.ram[Number(p)] };
          }
        }
      }
    }
    stale?.observe();
  }
  if (cov && sawOk) cov.casesWithOk++;
  return checkRam(c.steps.length) ?? checkGuards(c.steps.length);
}

function count(cov: Coverage, r: Record<string, unknown>, stale: boolean): void {
  if (stale) cov.stale++;
  if (r.fault === "gp") cov.gp++;
  else if (r.fault === "page" && (r.errorCode as number) & 8) cov.rsvd++;
  else if (typeof r.pageSize === "number" && (r.level as number) > 0) cov.ok[r.pageSize] = (cov.ok[r.pageSize] ?? 0) + 1;
}
