// Runs one case (a list of steps) on a real Machine and on the reference model side by side and
// reports the first disagreement: a translation result, the bytes of the entries the walk used,
// all of RAM at the end, guard bytes outside RAM, or any exception that is not a typed misuse
// error (a WebAssembly trap, an internal error). Cases are plain JSON (bigints as hex strings) so
// that a failing fuzz case can be minimized and kept as a regression file.

import { Machine, type Access, type Registers } from "../../src/index.js";
import { CORE } from "../../src/machine/machine.js";
import { RefMachine, type RefResult } from "./walker.js";

export type Hex = string;
export type RegValues = Partial<Record<keyof Registers, Hex>>;

export type Step =
  /** A little-endian store of `size` bytes into RAM (the guest writing a table entry). */
  | { op: "poke"; pa: Hex; size: 4 | 8; value: Hex }
  | { op: "regs"; values: RegValues }
  /** access: bit 0 write, 1 user, 2 fetch, 3 ac, 4 probe. */
  | { op: "translate"; va: Hex; access: number }
  /** INVLPG (the reference has no TLB: nothing to do there). */
  | { op: "invlpg"; va: Hex };

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
}

/** Runs the case; returns the first mismatch, or null if the Machine agreed everywhere. */
export async function runCase(c: Case, opts: RunOptions = {}): Promise<Mismatch | null> {
  const withMemRefs = opts.memRefs ?? !c.machine;
  // Without `machine` options the bare walker is compared (no TLB, no paging-structure caches).
  const caches = c.machine ?? { tlb: false, pwc: false };
  const cached = caches.tlb !== false || caches.pwc !== false;
  const m = await Machine.create({ ramBytes: c.ramBytes, physAddrBits: c.physAddrBits, ...caches } as never);
  // With caches, every table write and register write is followed by a flush of everything
  // (INVPCID type 2), so that no stale entry is architecturally allowed and results must be exact.
  const flushAll = (): void => {
    if (cached) m.invpcid(2, 0, 0n);
  };
  const ref = new RefMachine(c.ramBytes, c.physAddrBits);
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
      flushAll();
    } else if (st.op === "regs") {
      const values = regsOf(st.values);
      let expected: unknown, actual: unknown;
      try {
        expected = ref.setRegisters(values);
      } catch (e) {
        expected = { error: (e as Error).name };
      }
      try {
        actual = m.setRegisters(values) ? "gp" : null;
      } catch (e) {
        actual = e instanceof RangeError || e instanceof TypeError ? { error: e.name } : { trap: String(e) };
      }
      if (!same(expected, actual)) return { step: s, what: "setRegisters", expected, actual };
      flushAll();
      const want = ref.regs, got = m.registers();
      if (!same(want, got)) return { step: s, what: "registers after setRegisters", expected: want, actual: got };
    } else if (st.op === "invlpg") {
      m.invlpg(BigInt(st.va));
    } else {
      const va = BigInt(st.va);
      const access = accessOf(st.access);
      const expected = expectedResult(ref.translate(va, access), withMemRefs) as Record<string, unknown>;
      const actual = actualResult(m, va, access, withMemRefs) as Record<string, unknown>;
      // A TLB hit reads no entry, so it reports none.
      if (cached && actual.pa !== undefined && actual.entry === undefined) delete expected.entry;
      if (!same(expected, actual)) return { step: s, what: "translate", expected, actual };
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
  }
  return checkRam(c.steps.length) ?? checkGuards(c.steps.length);
}
