// Process: the handle of one address space (Mm) on a Kernel. Its methods are its system calls;
// each checks that the Machine and the process are alive and runs the operation on its Mm.

import { exit, fork } from "./fork.js";
import { handleFault, read, touch, write, type FaultAccess, type MemoryAccessOptions } from "./memory.js";
import { brk, mmap, munmap, type MmapArgs } from "./mmap.js";
import { mprotect } from "./mprotect.js";
import type { KernelStats, MapEntry, Mm } from "./mm.js";
import { pageEntry, type PageEntry } from "./pte.js";
import { pml4Slot } from "./pgalloc.js";
import { checkU } from "../errors.js";
import type { KernelState } from "./state.js";

/** The one handle of each address space, and the address space of each handle. */
const handles = new WeakMap<Mm, Process>();
const spaces = new WeakMap<Process, { k: KernelState; mm: Mm }>();

/** The Process handle of mm (made on first use). */
export function processOf(k: KernelState, mm: Mm): Process {
  let p = handles.get(mm);
  if (!p) {
    p = new Process(k, mm);
    handles.set(mm, p);
  }
  return p;
}

/** The kernel state and address space behind a Process (TypeError if it is not one). */
export function spaceOf(p: unknown): { k: KernelState; mm: Mm } {
  const s = typeof p === "object" && p !== null ? spaces.get(p as Process) : undefined;
  if (!s) throw new TypeError(`process must be a Process, got ${p === null ? "null" : typeof p}`);
  return s;
}

/**
 * A process: an address space on the Kernel's Machine. Once it has exited every call and
 * getter throws KernelError ESRCH except `pid`, `exited` and `stats()` (its final counts); once
 * the Machine is destroyed every one but `pid` and `exited` throws StateError.
 */
export class Process {
  readonly #k: KernelState;
  readonly #mm: Mm;

  /** @internal */
  constructor(k: KernelState, mm: Mm) {
    this.#k = k;
    this.#mm = mm;
    spaces.set(this, { k, mm });
  }

  /** Checks the Machine and the process are alive; returns the address space. */
  #live(): Mm {
    this.#k.live(this.#mm);
    return this.#mm;
  }

  get pid(): number {
    return this.#mm.pid;
  }

  get exited(): boolean {
    return this.#mm.exited;
  }

  /** Physical address of this process's top-level table (its pgd). */
  get pgd(): bigint {
    return BigInt(this.#live().root) << 12n;
  }

  /** Current program break. */
  get brkValue(): bigint {
    return this.#live().brk;
  }

  mmap(args: MmapArgs): bigint {
    return mmap(this.#k, this.#live(), args);
  }

  munmap(addr: bigint, length: number | bigint): void {
    munmap(this.#k, this.#live(), addr, length);
  }

  mprotect(addr: bigint, length: number | bigint, prot: number): void {
    mprotect(this.#k, this.#live(), addr, length, prot);
  }

  /** Sets the program break (if possible) and returns it; without an argument, returns it. */
  brk(addr?: bigint): bigint {
    return brk(this.#k, this.#live(), addr);
  }

  read(va: bigint, length: number, opts?: MemoryAccessOptions): Uint8Array {
    return read(this.#k, this.#live(), va, length, opts);
  }

  write(va: bigint, bytes: Uint8Array, opts?: MemoryAccessOptions): void {
    write(this.#k, this.#live(), va, bytes, opts);
  }

  /** Faults in every page of [va, va + length) as reads or writes would, in one pass (all or nothing). */
  touch(va: bigint, length: number | bigint, write: boolean): void {
    touch(this.#k, this.#live(), va, length, write);
  }

  fork(): Process {
    return processOf(this.#k, fork(this.#k, this.#live()));
  }

  exit(): void {
    exit(this.#k, this.#live());
  }

  /**
   * The page-fault handler for an access at va, described as { write, user, fetch } or as an
   * x86 page-fault error code (PF_* bits): true if resolved, false = SIGSEGV.
   */
  handleFault(va: bigint, access: FaultAccess | number = {}): boolean {
    return handleFault(this.#k, this.#live(), va, access);
  }

  /** The leaf entry mapping va in this process's tables, or null (not mapped). */
  pageEntry(va: bigint): PageEntry | null {
    const k = this.#k;
    const mm = this.#live();
    const v = checkU("va", va);
    // 2.4: kernel addresses live in the per-CPU PML4's other slots, not in the process's pgd.
    const root = k.design.perCpuPml4 && v >= k.userTop ? k.slotPgd.get(pml4Slot(v)) : mm.root;
    return root === undefined ? null : pageEntry(k, root, v);
  }

  /** The areas of the address space, in order. */
  maps(): MapEntry[] {
    return this.#live().vmas.list.map((v) => ({ ...v }));
  }

  /**
   * This address space's counters, with the free frames of the machine. After exit it still
   * answers: the final counts, exit's work included (tablePages 0).
   */
  stats(): KernelStats {
    this.#k.live();
    const mm = this.#mm;
    return { ...mm.counters, freeFrames: this.#k.core.freeCount(), totalFrames: this.#k.totalFrames, tablePages: mm.tablePages };
  }
}

