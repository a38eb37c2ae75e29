// Enumerates every present, valid leaf of the current address space in ascending linear
// address order (QEMU's `info tlb` set): a depth-first walk over the same geometry as walk.ts.
// Entries a walk would reject (reserved bits) are skipped with everything below them.
// Resumable: dumpNext() fills the caller's buffer and continues where it stopped.
// dumpStartAll() also reports every entry that ends the walk without a leaf (not present, or
// reserved bits set) as a hole record, for Linux-style dumps that print holes per level.

import { MODE_32, MODE_5L, MODE_OFF, MODE_PAE, PTE_P, PTE_PS, PTE_RW, PTE_US, PTE_XD, PTE_G } from "./x86";
import {
  RIGHT_G, RIGHT_XD, geoMask, geoRsvdLarge, geoRsvdTable, geoShift, largeAllowed, mode, nxe,
  pdpte, root, topLevel,
} from "./state";
import { leafBase, readEntry, tableAddr } from "./walk";

// Record written per leaf: va u64, pa u64 (page base), entry u64, shift u32, rights u32
// (RIGHT_* bits, DUMP_HOLE, and the entry's level in bits 16..23).
export const DUMP_RECORD: usize = 32;
export const DUMP_HOLE: u32 = 0x100;

// Cursor per level: table address, next index, accumulated AND/OR bits, va of the table.
const curTable = memory.data(8 * 6);
const curIndex = memory.data(8 * 6);
const curAnd = memory.data(8 * 6);
const curOr = memory.data(8 * 6);
const curVa = memory.data(8 * 6);
let curLevel: u32 = 0; // 0: finished
let dumpTop: u32 = 0;
let dumpHoles: bool = false;

@inline function slot(a: usize, level: u32): usize { return a + <usize>level * 8; }

function entryAt(level: u32, table: u64, idx: u64): u64 {
  if (mode == MODE_PAE && level == 3) return load<u64>(pdpte + <usize>idx * 8);
  return mode == MODE_32 ? readEntry<u32>(table + idx * 4) : readEntry<u64>(table + idx * 8);
}

function enter(level: u32, table: u64, va: u64, andBits: u64, orBits: u64): void {
  store<u64>(slot(curTable, level), table);
  store<u64>(slot(curIndex, level), 0);
  store<u64>(slot(curAnd, level), andBits);
  store<u64>(slot(curOr, level), orBits);
  store<u64>(slot(curVa, level), va);
  curLevel = level;
}

/** Starts an enumeration of the present leaves of the current address space. */
export function dumpStart(): void {
  dumpHoles = false;
  begin();
}

/** Starts an enumeration of the leaves and the holes of the current address space. */
export function dumpStartAll(): void {
  dumpHoles = true;
  begin();
}

function begin(): void {
  if (mode == MODE_OFF) { curLevel = 0; return; }
  dumpTop = mode == MODE_PAE ? 3 : topLevel;
  enter(dumpTop, root, 0, PTE_RW | PTE_US, 0);
}

/** Writes up to max leaf records at out; returns how many (0 when the enumeration is done). */
export function dumpNext(out: usize, max: u32): u32 {
  let n: u32 = 0;
  const vaBits: u64 = mode == MODE_5L ? 57 : mode >= 3 ? 48 : 32;
  while (curLevel != 0 && n < max) {
    const level = curLevel;
    const idx = load<u64>(slot(curIndex, level));
    if (idx > geoMask(level)) {
      curLevel = level == dumpTop ? 0 : level + 1;
      continue;
    }
    store<u64>(slot(curIndex, level), idx + 1);
    const e = entryAt(level, load<u64>(slot(curTable, level)), idx);
    const shift = geoShift(level);
    let va = load<u64>(slot(curVa, level)) | (idx << shift);
    if (!(e & PTE_P)) {
      if (dumpHoles) n = hole(out, n, va, vaBits, e, shift, level);
      continue;
    }
    // PAE PDPTEs carry no rights; elsewhere rights accumulate as in walk.ts.
    const pdpt = mode == MODE_PAE && level == 3;
    const andBits = load<u64>(slot(curAnd, level)) & (pdpt ? <u64>-1 : e);
    const orBits = load<u64>(slot(curOr, level)) | (pdpt ? 0 : e);
    const large = level > 1 && (e & PTE_PS) != 0 && largeAllowed(level);
    if (e & (large ? geoRsvdLarge(level) : geoRsvdTable(level))) {
      if (dumpHoles) n = hole(out, n, va, vaBits, e, shift, level);
      continue;
    }
    if (!large && level > 1) {
      const t = mode == MODE_32 ? tableAddr<u32>(e) : tableAddr<u64>(e);
      enter(level - 1, t, va, andBits, orBits);
      continue;
    }
    va = canonical(va, vaBits);
    const pa = mode == MODE_32 ? leafBase<u32>(e, level, shift) : leafBase<u64>(e, level, shift);
    let rights: u32 = (<u32>(andBits & (PTE_RW | PTE_US)) >> 1) | (level << 16);
    if (nxe && (orBits & PTE_XD)) rights |= RIGHT_XD;
    if (e & PTE_G) rights |= RIGHT_G;
    record(out, n, va, pa, e, shift, rights);
    n++;
  }
  return n;
}

/** Sign-extends long-mode addresses (the upper half prints as ffff...). */
@inline function canonical(va: u64, vaBits: u64): u64 {
  return vaBits < 64 && mode >= 3 ? <u64>((<i64>(va << (64 - vaBits))) >> (64 - vaBits)) : va;
}

@inline function record(out: usize, n: u32, va: u64, pa: u64, e: u64, shift: u64, rights: u32): void {
  const rec = out + <usize>n * DUMP_RECORD;
  store<u64>(rec, va, 0);
  store<u64>(rec, pa, 8);
  store<u64>(rec, e, 16);
  store<u32>(rec, <u32>shift, 24);
  store<u32>(rec, rights, 28);
}

/** Writes a hole record (an entry that maps nothing) and returns the new record count. */
function hole(out: usize, n: u32, va: u64, vaBits: u64, e: u64, shift: u64, level: u32): u32 {
  record(out, n, canonical(va, vaBits), 0, e, shift, DUMP_HOLE | (level << 16));
  return n + 1;
}
