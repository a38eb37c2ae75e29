// The entry bits the kernel writes and the one TypeScript table walk (a debugger's view: it
// reads entries through the core, sets no A/D bit and counts nothing). The range loop that
// does the kernel's work is the core's; this walk only answers "what is on va's path".

import { KG_FOLDED, KG_LARGE, PTE_SW_SPECIAL } from "./core.js";
import { PROT_EXEC, PROT_NONE, PROT_WRITE } from "./constants.js";
import type { KernelState } from "./state.js";
import type { Vma } from "./vma.js";
import { PTE_A, PTE_D, PTE_P, PTE_PS, PTE_RW, PTE_US } from "../x86.js";

/** Entry bit 11, one of the OS's: a PROT_NONE page, not present to the CPU, still mapped for the kernel. */
export const PTE_SW_PROTNONE = 1n << 11n;
export { PTE_SW_SPECIAL };

/** A leaf entry of a process's tables (a debugger's view: no counters, no A/D changes). */
export interface PageEntry {
  entry: bigint;
  /** 1 = PTE; higher for a large page. */
  level: number;
  /** Physical address of the frame (or large page) it maps. */
  pa: bigint;
}

/** Index of va's entry in a table of the software level `l`. */
export const indexOf = (va: bigint, l: { shift: number; bits: number }) =>
  Number((va >> BigInt(l.shift)) & BigInt((1 << l.bits) - 1));

/** pfn of the table or frame an entry points to. */
export const pfnOf = (k: KernelState, e: bigint) => Number((e & k.addrMask) >> 12n);

/**
 * Walks va's path from the table `root` down to `level` (1 = PTE): the entry there, or the
 * entry where the walk stops above it (an empty entry, or a large leaf), with its level.
 */
export function walkTo(k: KernelState, root: number, va: bigint, level: number): { entry: bigint; level: number } {
  const ls = k.design.levels;
  let table = root;
  for (let i = 0; ; i++) {
    const l = ls[i]!;
    const at = ls.length - i;
    if (l.flags & KG_FOLDED) continue;
    const entry = k.core.readEntry(table, indexOf(va, l));
    if (at <= level || entry === 0n || (l.flags & KG_LARGE && entry & PTE_PS)) return { entry, level: at };
    table = pfnOf(k, entry);
  }
}

/** The entry at `level` on va's path (0n if the walk stops above it). */
export function entryAt(k: KernelState, root: number, va: bigint, level: number): bigint {
  const r = walkTo(k, root, va, level);
  return r.level === level ? r.entry : 0n;
}

/** The leaf mapping va in the tables from root, or null. */
export function pageEntry(k: KernelState, root: number, va: bigint): PageEntry | null {
  const { entry, level } = walkTo(k, root, va, 1);
  return entry === 0n ? null : { entry, level, pa: entry & k.addrMask };
}

/** Page-table bits of a user leaf for an area (the zero page and COW rules are the core's). */
export function leafBits(k: KernelState, v: Vma, dirty: boolean): bigint {
  const nx = v.prot & PROT_EXEC ? 0n : k.nx;
  if (v.prot === PROT_NONE) return PTE_SW_PROTNONE | PTE_US | PTE_A | nx;
  const w = v.prot & PROT_WRITE ? PTE_RW | (dirty ? PTE_D : 0n) : 0n;
  return PTE_P | PTE_US | PTE_A | w | nx;
}

/** The entry that maps the zero page read-only into an area (a private read fault). */
export function zeroEntry(k: KernelState, v: Vma): bigint {
  const nx = v.prot & PROT_EXEC ? 0n : k.nx;
  return (BigInt(k.zeroPfn) << 12n) | PTE_P | PTE_US | PTE_A | PTE_SW_SPECIAL | nx;
}
