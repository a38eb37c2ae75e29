// The fault handler and memory access (mm/memory.c, arch/x86/mm/fault.c): do_page_fault with
// demand-zero pages, the zero page and copy-on-write breaks; populating ranges all or nothing
// (MAP_POPULATE, touch); and reads and writes of a process's memory through the CPU, page by
// page, taking page faults into the handler.

import { checkBool, checkInt, checkOptions, checkU } from "../errors.js";
import { KernelError, PROT_EXEC, PROT_NONE, PROT_WRITE } from "./constants.js";
import { KS, SRC_ANON } from "./core.js";
import { blockOf, hugeFault, tableAt } from "./huge.js";
import type { Mm } from "./mm.js";
import { leafBits, zeroEntry } from "./pte.js";
import { reserved } from "./reserve.js";
import { PAGE, hex, pageUp, type KernelState } from "./state.js";
import { flushTlbRange, switchMm } from "./tlbflush.js";
import { vmallocFault } from "./vmalloc.js";
import type { Vma } from "./vma.js";
import { PF_ID, PF_P, PF_PK, PF_RSVD, PF_US, PF_WR } from "../x86.js";

/** What a faulting access was (default: a user read). */
export interface FaultAccess {
  write?: boolean;
  user?: boolean;
  fetch?: boolean;
}

export interface MemoryAccessOptions {
  /** A kernel-mode access (a system call touching the memory), not a user one. */
  supervisor?: boolean;
}

/** A range of one area to populate, with the level its leaves go at (1, or the large-page level). */
export type Piece = [Vma, bigint, bigint, number];

const PF_BITS = PF_P | PF_WR | PF_US | PF_RSVD | PF_ID | PF_PK;

/** A length argument: a number or a bigint, at least 0. */
export const checkLength = (length: unknown): bigint =>
  typeof length === "bigint" ? checkU("length", length) : BigInt(checkInt("length", length, 0, Number.MAX_SAFE_INTEGER));

/** Does the area's protection allow this access? */
export const allows = (v: Vma, write: boolean, fetch = false) =>
  write ? (v.prot & PROT_WRITE) !== 0 : fetch ? (v.prot & PROT_EXEC) !== 0 : v.prot !== PROT_NONE;

/**
 * Populates pieces of areas (fault work), all or nothing: ENOMEM leaves every table as it was.
 * Returns how many present entries it replaced (which the TLB may still hold).
 */
export function populate(k: KernelState, mm: Mm, pieces: Piece[], write: boolean, src: number, faults: boolean): number {
  return reserved(
    k, mm,
    {
      what: `populating ${hex(pieces[0]![1])}`,
      count: (c) => pieces.forEach(([, s, e, level]) => c.countPopulate(mm.root, s, e, write, src, level)),
      faults,
    },
    (c) => {
      for (const [v, s, e, level] of pieces) {
        c.populate(mm.root, s, e, write, src, level, leafBits(k, v, write || v.shared), zeroEntry(k, v), 0n);
      }
      return c.stat[KS.entriesReplaced]!;
    },
  );
}

/** do_page_fault for mm: true if resolved, false for SIGSEGV. */
export function fault(k: KernelState, mm: Mm, va: bigint, write: boolean, user: boolean, fetch: boolean): boolean {
  k.count(mm, "pageFaults");
  if (va >= k.userTop) return !user && vmallocFault(k, mm, va);
  const v = mm.vmas.find(va);
  if (!v || !allows(v, write, fetch)) return false;
  const H = k.hugePageSize;
  const block = blockOf(k, va);
  if (v.huge && block >= v.start && block + H <= v.end && !tableAt(k, mm, block) && hugeFault(k, mm, v, va, write)) return true;
  // A write to the zero page or a copy-on-write break replaced a present entry: flush it.
  const page = va & ~(PAGE - 1n);
  if (populate(k, mm, [[v, page, page + PAGE, 1]], write, SRC_ANON, false)) flushTlbRange(k, mm, page, page + PAGE);
  return true;
}

/** The page-fault handler called with an access's description or its x86 error code. */
export function handleFault(k: KernelState, mm: Mm, va: bigint, access: FaultAccess | number): boolean {
  const v = checkU("va", va);
  let write: boolean, user: boolean, fetch: boolean;
  if (typeof access === "number") {
    checkInt("access", access, 0, 0xffff);
    if (access & ~PF_BITS) {
      const bad = (access & ~PF_BITS).toString(16);
      throw new RangeError(`access 0x${access.toString(16)} has bits 0x${bad} beyond the page-fault error-code bits P, W/R, U/S, RSVD, I/D, PK (0x${PF_BITS.toString(16)})`);
    }
    write = (access & PF_WR) !== 0;
    user = (access & PF_US) !== 0;
    fetch = (access & PF_ID) !== 0;
  } else {
    const a = checkOptions<FaultAccess>("access", access, ["write", "user", "fetch"]);
    write = checkBool("access.write", a.write);
    user = a.user === undefined ? true : checkBool("access.user", a.user);
    fetch = checkBool("access.fetch", a.fetch);
  }
  return fault(k, mm, v, write, user, fetch);
}

/** Faults in every page of [va, va + length) as reads or writes would, in one pass (all or nothing). */
export function touch(k: KernelState, mm: Mm, va: bigint, length: number | bigint, write: boolean): void {
  const v0 = checkU("va", va);
  const len = checkLength(length);
  checkBool("write", write);
  if (len === 0n) return;
  const start = v0 & ~(PAGE - 1n);
  const end = pageUp(v0 + len);
  if (end > k.userTop || !mm.vmas.covers(start, end)) throw new KernelError("EFAULT", `${hex(v0)}..${hex(v0 + len)} is not mapped`);
  const pieces: Piece[] = [];
  for (const v of mm.vmas.overlapping(start, end)) {
    if (!allows(v, write)) {
      throw new KernelError("EFAULT", `${write ? "write" : "read"} to ${hex(v.start)}..${hex(v.end)} is not allowed by its protection`);
    }
    const s = v.start > start ? v.start : start;
    const e = v.end < end ? v.end : end;
    if (!v.huge) {
      pieces.push([v, s, e, 1]);
      continue;
    }
    // Whole blocks inside the area get large pages (unless already split); edges small ones.
    const H = k.hugePageSize;
    for (let b = blockOf(k, s); b < e; b += H) {
      if (b >= v.start && b + H <= v.end && !tableAt(k, mm, b)) pieces.push([v, b, b + H, k.hugeLevel]);
      else pieces.push([v, b > s ? b : s, b + H < e ? b + H : e, 1]);
    }
  }
  // Write faults may replace present read-only entries (zero page, copy-on-write).
  if (populate(k, mm, pieces, write, SRC_ANON, true)) flushTlbRange(k, mm, start, end);
}

/** Runs one access through the CPU, page by page, taking page faults into the handler. */
function access(k: KernelState, mm: Mm, va: bigint, length: number, write: Uint8Array | null, supervisor: boolean): Uint8Array {
  switchMm(k, mm);
  const m = k.machine;
  const out = write ? write : new Uint8Array(length);
  const user = !supervisor;
  let off = 0;
  let retries = 0;
  /** Takes a fault at cur into the handler; EFAULT if it cannot be resolved. */
  const resolve = (cur: bigint, r: { fault: "page" | "gp"; reason?: string }, at: bigint, what: string) => {
    if (r.fault === "gp" || retries++ > 2) throw new KernelError("EFAULT", `${what} at ${hex(cur)}: ${r.fault === "gp" ? r.reason : "fault not resolved"}`);
    if (!fault(k, mm, at, write !== null, user, false)) throw new KernelError("EFAULT", `${what} at ${hex(cur)}: no mapping allows it (SIGSEGV)`);
    switchMm(k, mm);
  };
  const step = (cur: bigint) => Math.min(length - off, 4096 - Number(cur & 0xfffn));
  // A write faults all its pages in before it stores a byte, so that ENOMEM or EFAULT on a
  // later page leaves memory as it was.
  while (write && off < length) {
    const cur = va + BigInt(off);
    const r = m.translate(cur, { write: true, user, probe: true });
    if (r.fault) {
      resolve(cur, r, cur, "write");
      continue;
    }
    off += step(cur);
    retries = 0;
  }
  off = 0;
  while (off < length) {
    const cur = va + BigInt(off);
    const n = step(cur);
    const r = write ? m.writeVirtual(cur, write.subarray(off, off + n), { user }) : m.readVirtual(cur, n, { user });
    if (r !== null && !(r instanceof Uint8Array)) {
      resolve(cur, r, r.fault === "page" ? r.address : cur, write ? "write" : "read");
      continue;
    }
    if (r) out.set(r, off);
    off += n;
    retries = 0;
  }
  return out;
}

/** Reads length bytes at va as the process (or, with supervisor, its kernel) would. */
export function read(k: KernelState, mm: Mm, va: bigint, length: number, opts?: MemoryAccessOptions): Uint8Array {
  const v = checkU("va", va);
  checkInt("length", length, 0, 1 << 30);
  const o = checkOptions<MemoryAccessOptions>("options", opts, ["supervisor"]);
  return access(k, mm, v, length, null, checkBool("options.supervisor", o.supervisor));
}

/** Writes bytes at va as the process (or, with supervisor, its kernel) would. */
export function write(k: KernelState, mm: Mm, va: bigint, bytes: Uint8Array, opts?: MemoryAccessOptions): void {
  const v = checkU("va", va);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`bytes must be a Uint8Array, got ${typeof bytes}`);
  const o = checkOptions<MemoryAccessOptions>("options", opts, ["supervisor"]);
  access(k, mm, v, bytes.length, bytes, checkBool("options.supervisor", o.supervisor));
}
