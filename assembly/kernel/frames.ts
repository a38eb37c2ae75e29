// The kernel's physical memory: one record per 4 KiB frame of guest RAM, in linear memory the
// Kernel asks its Machine for (Machine.create's extraBytes), and the counters every kernel
// operation reports.
//
//   frame record (8 bytes, pfn * 8 from framesBase)
//   +----------------------------+----------------------------+
//   | +0 u32 info                | +4 u32 count               |
//   |  allocated: FI_* flags     |  allocated: reference count |
//   |  free: FI_FREE | next+1    |  free: prev+1               |
//   |  reserved: FI_RES | next+1 |  reserved: 0                |
//   +----------------------------+----------------------------+
//
// Free frames form one doubly linked list, used as a stack at its head (so an allocation that
// is undone puts the list back exactly as it was) and unlinkable anywhere in O(1) (so a 2 MiB
// run can be taken out of it). An operation that allocates first reserves every frame it will
// need (kReserve, each frame one allocation for fault injection) and then takes them from the
// reservation: it either gets them all or changes nothing, the seeds' pgd_alloc out_oom rule.

import { ramBase } from "../state";

export const FI_FREE: u32 = 0x80000000; // on the free list
export const FI_RES: u32 = 0x40000000; //  held by the current reservation
export const FI_LINK: u32 = 0x3fffffff; // next pfn + 1 while free or reserved
export const FI_TABLE: u32 = 1; //         a page-table page
export const FI_KERNEL: u32 = 2; //        kernel-owned (image, zero page): never freed by count

export const PAGE_SHIFT: u64 = 12;
export const PAGE_SIZE: usize = 4096;

export let framesBase: usize = 0;
export let nFrames: u32 = 0;
let freeHead: u32 = 0; // pfn + 1 of the top of the free stack, 0 if empty
export let freeCount: u32 = 0;
let resHead: u32 = 0; //  pfn + 1 of the top of the reservation stack
export let resCount: u32 = 0;
let failIn: u32 = 0; //   fault injection: the failIn-th allocation from now fails (0: off)
export let tablePages: u32 = 0;

// Counters of kernel work (f64 each so the facade reads them without BigInt); the facade
// zeroes them before an operation and adds them to the kernel's and the process's totals.
export const kstat = memory.data(16 * 8);
export const KS_TABLES_ALLOC: i32 = 0;
export const KS_TABLES_FREED: i32 = 1;
export const KS_VISITED: i32 = 2;
export const KS_READ: i32 = 3;
export const KS_WRITTEN: i32 = 4;
export const KS_COPIED: i32 = 5;
export const KS_LEVELS: i32 = 6;
export const KS_FRAMES_COPIED: i32 = 7;
export const KS_FAULTS: i32 = 8; //   pages a populate resolved (each one page fault's work)
export const KS_REPLACED: i32 = 9; // present entries a populate replaced (the TLB may hold them)
export const KS_COUNT: i32 = 10;

@inline export function kadd(i: i32, n: u64): void {
  const p = kstat + <usize>i * 8;
  store<f64>(p, load<f64>(p) + <f64>n);
}

/** Address of a frame's record. */
@inline export function meta(pfn: u32): usize {
  return framesBase + (<usize>pfn << 3);
}

@inline export function frameInfo(pfn: u32): u32 { return load<u32>(meta(pfn)); }
@inline export function frameCount(pfn: u32): u32 { return load<u32>(meta(pfn), 4); }
@inline export function setCount(pfn: u32, n: u32): void { store<u32>(meta(pfn), n, 4); }

/** Linear-memory address of guest physical frame pfn. */
@inline export function frameAddr(pfn: u32): usize {
  return ramBase + (<usize>pfn << 12);
}

/** Pushes a frame on the free stack. */
@inline export function pushFree(pfn: u32): void {
  const m = meta(pfn);
  const head = freeHead;
  store<u32>(m, FI_FREE | head);
  store<u32>(m, 0, 4);
  if (head) store<u32>(meta(head - 1), pfn + 1, 4);
  freeHead = pfn + 1;
  freeCount++;
}

/** Takes a free frame out of the free list wherever it is. */
function unlinkFree(pfn: u32): void {
  const m = meta(pfn);
  const next = load<u32>(m) & FI_LINK;
  const prev = load<u32>(m, 4);
  if (prev) store<u32>(meta(prev - 1), FI_FREE | next);
  else freeHead = next;
  if (next) store<u32>(meta(next - 1), prev, 4);
  freeCount--;
}

/** One frame allocation (subject to fault injection): pfn + 1, or 0 if none. */
function allocate(): u32 {
  if (failIn) {
    failIn--;
    if (!failIn) return 0;
  }
  const head = freeHead;
  if (!head) return 0;
  unlinkFree(head - 1);
  return head;
}

/** Returns every reserved frame and run to the free list, newest first (undoing kReserve exactly). */
export function kRelease(): void {
  while (resHead) {
    const pfn = resHead - 1;
    resHead = load<u32>(meta(pfn)) & FI_LINK;
    resCount--;
    pushFree(pfn);
  }
  while (hugeHead) releaseRun();
}

// Large pages: reserved runs of `hugeFrames` free frames, aligned to their size, found by a scan
// of the frame records from a rotating cursor. A run's first record links the reserved runs.
let hugeHead: u32 = 0; // pfn + 1 of the newest reserved run
let hugeFrames: u32 = 512;
let hugeCursor: u32 = 0;
export let hugeReserved: u32 = 0;

/** First frame (pfn + 1) of an aligned run of n free frames, or 0. */
function findRun(n: u32): u32 {
  const blocks = nFrames / n;
  for (let i: u32 = 0; i < blocks; i++) {
    const b = (hugeCursor + i) % blocks;
    const base = b * n;
    let free = true;
    for (let j: u32 = 0; j < n; j++) {
      if (!(frameInfo(base + j) & FI_FREE)) {
        free = false;
        break;
      }
    }
    if (free) {
      hugeCursor = (b + 1) % blocks;
      return base + 1;
    }
  }
  return 0;
}

/** Puts the newest reserved run back on the free list. */
function releaseRun(): void {
  const base = hugeHead - 1;
  hugeHead = load<u32>(meta(base)) & FI_LINK;
  hugeReserved--;
  for (let j = hugeFrames; j > 0; j--) pushFree(base + j - 1);
}

/**
 * Reserves count runs of `frames` contiguous frames (one large page each; each run is one
 * allocation for fault injection). All or nothing, like kReserve.
 */
export function kReserveHuge(count: u32, frames: u32): bool {
  hugeFrames = frames;
  for (let i: u32 = 0; i < count; i++) {
    let injected = false;
    if (failIn) {
      failIn--;
      injected = failIn == 0;
    }
    const r = injected ? 0 : findRun(frames);
    if (!r) {
      for (let j: u32 = 0; j < i; j++) releaseRun();
      return false;
    }
    const base = r - 1;
    for (let j: u32 = 0; j < frames; j++) {
      unlinkFree(base + j);
      store<u32>(meta(base + j), FI_RES);
      store<u32>(meta(base + j), 0, 4);
    }
    store<u32>(meta(base), FI_RES | hugeHead);
    hugeHead = r;
    hugeReserved++;
  }
  return true;
}

/** Takes a reserved run as a large data page: every frame count 1. Returns its first pfn. */
export function takeHuge(): u32 {
  const r = hugeHead;
  if (!r) unreachable(); // the operation's count pass and its work disagree
  const base = r - 1;
  hugeHead = load<u32>(meta(base)) & FI_LINK;
  hugeReserved--;
  for (let j: u32 = 0; j < hugeFrames; j++) {
    store<u32>(meta(base + j), 0);
    store<u32>(meta(base + j), 1, 4);
  }
  return base;
}

/**
 * Reserves n frames for the operation about to run. All or nothing: on failure every frame
 * taken is back on the free list in its old place and false is returned (ENOMEM).
 */
export function kReserve(n: u32): bool {
  for (let i: u32 = 0; i < n; i++) {
    const f = allocate();
    if (!f) {
      // Undo only this call's frames: they are the newest on the reservation stack.
      for (let j: u32 = 0; j < i; j++) {
        const pfn = resHead - 1;
        resHead = load<u32>(meta(pfn)) & FI_LINK;
        resCount--;
        pushFree(pfn);
      }
      return false;
    }
    store<u32>(meta(f - 1), FI_RES | resHead);
    store<u32>(meta(f - 1), 0, 4);
    resHead = f;
    resCount++;
  }
  return true;
}

/** Takes a reserved frame: count 1, info = flags. Running out is a kernel bug. */
export function take(flags: u32): u32 {
  const f = resHead;
  if (!f) unreachable(); // the operation's count pass and its work disagree
  const pfn = f - 1;
  resHead = load<u32>(meta(pfn)) & FI_LINK;
  resCount--;
  store<u32>(meta(pfn), flags);
  store<u32>(meta(pfn), 1, 4);
  if (flags & FI_TABLE) {
    tablePages++;
    kadd(KS_TABLES_ALLOC, 1);
  }
  return pfn;
}

/** Takes a reserved frame for a page table, zeroed. */
@inline export function takeTable(): u32 {
  const pfn = take(FI_TABLE);
  memory.fill(frameAddr(pfn), 0, PAGE_SIZE);
  return pfn;
}

/** Frees a page-table page. */
@inline export function freeTable(pfn: u32): void {
  tablePages--;
  kadd(KS_TABLES_FREED, 1);
  pushFree(pfn);
}

/** Drops one reference to a data frame; frees it at zero. Kernel frames are never freed here. */
@inline export function putFrame(pfn: u32): void {
  const m = meta(pfn);
  const c = load<u32>(m, 4);
  if (c > 1) {
    store<u32>(m, c - 1, 4);
  } else if (!(load<u32>(m) & (FI_KERNEL | FI_FREE | FI_RES))) {
    pushFree(pfn);
  }
}

/** Sets up the frame table: every frame free, pushed so that low frames are handed out first. */
export function kFramesInit(base: usize, frames: u32): void {
  framesBase = base;
  nFrames = frames;
  freeHead = 0;
  freeCount = 0;
  resHead = 0;
  resCount = 0;
  failIn = 0;
  tablePages = 0;
  hugeHead = 0;
  hugeReserved = 0;
  hugeCursor = 0;
  for (let pfn = frames; pfn > 0; pfn--) pushFree(pfn - 1);
  memory.fill(kstat, 0, <usize>KS_COUNT * 8);
}

/** Marks a free frame as kernel-owned (boot image, zero page); false if it is not free. */
export function kClaim(pfn: u32, flags: u32): bool {
  if (pfn >= nFrames || !(frameInfo(pfn) & FI_FREE)) return false;
  unlinkFree(pfn);
  store<u32>(meta(pfn), flags);
  store<u32>(meta(pfn), 1, 4);
  if (flags & FI_TABLE) tablePages++;
  return true;
}

/** Arms fault injection: the n-th frame allocation from now fails (0 disarms). */
export function kInjectFailure(n: u32): void {
  failIn = n;
}

export function kFreeCount(): u32 { return freeCount; }
export function kTablePages(): u32 { return tablePages; }
export function kReserved(): u32 { return resCount + hugeReserved * hugeFrames; }
export function kStatBlock(): usize { return kstat; }
export function kFrameInfo(pfn: u32): u32 { return pfn < nFrames ? frameInfo(pfn) : 0; }
export function kFrameCount(pfn: u32): u32 { return pfn < nFrames ? frameCount(pfn) : 0; }

/** Takes a reserved frame for the facade (a root table, a vmalloc page): pfn. */
export function kTake(table: bool, zero: bool): u32 {
  const pfn = take(table ? FI_TABLE : 0);
  if (zero) memory.fill(frameAddr(pfn), 0, PAGE_SIZE);
  return pfn;
}

/** Frees a frame the facade owns outright (a root table, a vmalloc page). */
export function kFree(pfn: u32): void {
  if (frameInfo(pfn) & FI_TABLE) freeTable(pfn);
  else pushFree(pfn);
}
