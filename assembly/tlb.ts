// Translation caches (SDM Vol. 3A 4.10): TLBs and paging-structure caches (PWC), tagged with
// the PCID: lookup (with the hit path probed first), fill after a walk, and the architectural
// invalidation operations. Both are "structures": sets x ways of 16-byte entries with LRU
// replacement, differing only in what an entry caches.
//
// Entry (16 bytes, also read by JavaScript for the inline hit path; see src/machine/tlb.ts):
//   w0  tag, low 32 bits.  TLB: 4 KiB page number of the cached unit (va >> 12, of the page
//       base for a large page).  PWC level l: (va & vaMask) >> shift(l).
//   w1  bits 12:0 tag high bits; 27:16 context (a non-global entry: the context its PCID had
//       when it was filled, see "Contexts" below; a global one: the PCID); 30 global; 31 valid
//   w2  frame number (pa >> 12), low 32 bits: of the page (TLB) or of the next table (PWC)
//   w3  bits 7:0 frame number high bits (so w2 | w3 << 32 read as one u64 holds the frame in
//       its low 40 bits); 15:8 ALLOW_* (TLB: accesses allowed without a walk under the current
//       registers); 19:16 protection key; 20 R/W; 21 U/S; 22 XD; 23 dirty; 25:24 page size of
//       the translation (0 4 KiB, 1 2/4 MiB, 2 1 GiB)
// Read through the e*() accessors below; JavaScript's inline path reads the same words.
//
// Structure descriptor (32 bytes, up to MAX_STRUCTS):
//   base, setsMask, ways, kind (KIND_*), sides (SIDE_*), level (1 L1, 2 second level), lru, stat

import { ACC_FETCH, ACC_PROBE, ACC_WRITE, MODE_32, MODE_4L, MODE_5L, MODE_OFF, PTE_D, PTE_PK_SHIFT } from "./x86";
import {
  CTRL_HI_MASK, CTRL_KEY, CTRL_NO_KEY, CTRL_TICK, CTRL_TOP_NEG, CTRL_TOP_SHIFT, RIGHT_G, bits, cr0, cr3, cr4,
  ctrlBase, efer, geoShift, mode, pcide, pge, pkru, setControl, statAdd, topLevel,
} from "./state";
import { accessIndex, allowBits, refreshAllowTables } from "./rights";

export const MAX_STRUCTS: u32 = 12;
export const KIND_4K: u32 = 0;
export const KIND_LARGE: u32 = 1; // 2 MiB (4 MiB in 32-bit paging)
export const KIND_1G: u32 = 2;
export const KIND_PWC: u32 = 3; //    KIND_PWC + l - 2 for the cache of level-l entries, l = 2..5
export const SIDE_I: u32 = 1;
export const SIDE_D: u32 = 2;

export const W1_VALID: u32 = 1 << 31;
export const W1_GLOBAL: u32 = 1 << 30;
export const W1_TAGHI: u32 = 0x1FFF;
export const W1_PCID_SHIFT: u32 = 16; //  bits 27:16
/** The w1 bits compared for an entry of the current PCID, and for a global entry. */
export const W1_KEY_MASK: u32 = W1_VALID | (0xFFF << W1_PCID_SHIFT) | W1_TAGHI;
export const W1_GLOBAL_KEY_MASK: u32 = W1_VALID | W1_GLOBAL | W1_TAGHI;
export const W3_FRAME_HI: u32 = 0xFF;
export const W3_ALLOW_SHIFT: u32 = 8;
export const W3_PK_SHIFT: u32 = 16;
export const W3_RIGHTS_SHIFT: u32 = 20; // RIGHT_W | RIGHT_U | RIGHT_XD as bits 20..22
export const W3_DIRTY: u32 = 1 << 23;
export const W3_SIZE_SHIFT: u32 = 24;
/** The tag bits of the first u64 of an entry (w0 and w1's low 13 bits): 45 bits of page number. */
export const TAG_MASK: u64 = 0x1FFF_FFFF_FFFF;
const FRAME_MASK: u64 = 0xFF_FFFF_FFFF; // 40-bit frame number: 52-bit physical addresses

@inline export function eW1(e: usize): u32 { return load<u32>(e, 4); }
@inline export function eTag(e: usize): u64 { return load<u64>(e) & TAG_MASK; }
@inline export function eValid(e: usize): bool { return (load<u32>(e, 4) & W1_VALID) != 0; }
@inline export function eGlobal(e: usize): bool { return (load<u32>(e, 4) & W1_GLOBAL) != 0; }
@inline export function ePcid(e: usize): u32 { return (load<u32>(e, 4) >> 16) & 0xFFF; }
@inline export function eFrame(e: usize): u64 { return load<u64>(e, 8) & FRAME_MASK; }
@inline export function eW3(e: usize): u32 { return load<u32>(e, 12); }
@inline export function eAllow(e: usize): u32 { return (load<u32>(e, 12) >> W3_ALLOW_SHIFT) & 0xFF; }
@inline export function eRights(e: usize): u32 { return (load<u32>(e, 12) >> W3_RIGHTS_SHIFT) & 7; }
@inline export function ePk(e: usize): u32 { return (load<u32>(e, 12) >> W3_PK_SHIFT) & 15; }
@inline export function eDirty(e: usize): bool { return (load<u32>(e, 12) & W3_DIRTY) != 0; }
@inline export function eSize(e: usize): u32 { return (load<u32>(e, 12) >> W3_SIZE_SHIFT) & 3; }
@inline function eInvalidate(e: usize): void { store<u32>(e, 0, 4); }

const DESC: usize = 32;
const desc = memory.data(<i32>(MAX_STRUCTS * <u32>DESC));
export let structCount: u32 = 0;
export let tlbOn: bool = false;
export let pwcOn: bool = false;
export let curPcid: u32 = 0;
/** The current PCID's context: the w1 bits 27:16 of its non-global entries. */
export let curCtx: u32 = 0;
/** Page shift of KIND_LARGE in the current mode (21, or 22 for 32-bit paging). */
export let largeShift: u64 = 21;

// Counters (indexes into the u64 block at ctrlBase + STATS).
export const STAT_TLB_HITS: usize = 6;
export const STAT_TLB_MISSES: usize = 7;
export const STAT_STRUCT: usize = 10; //  hits at 10 + 2i, misses at 11 + 2i
export const STAT_FLUSH: usize = 34; //   by cause, FLUSH_*
export const STAT_TLB_INVALIDATED: usize = 42;
export const STAT_PWC_INVALIDATED: usize = 43;
export const FLUSH_CR3: u32 = 0;
export const FLUSH_CR4: u32 = 1;
export const FLUSH_CR0: u32 = 2;
export const FLUSH_INVLPG: u32 = 3;
export const FLUSH_INVPCID: u32 = 4;
export const FLUSH_FAULT: u32 = 5;

@inline function d(s: u32): usize { return desc + <usize>s * DESC; }
@inline export function sBase(s: u32): usize { return load<u32>(d(s), 0); }
@inline export function sSetsMask(s: u32): u32 { return load<u32>(d(s), 4); }
@inline export function sWays(s: u32): u32 { return load<u32>(d(s), 8); }
@inline export function sKind(s: u32): u32 { return load<u32>(d(s), 12); }
@inline export function sSides(s: u32): u32 { return load<u32>(d(s), 16); }
@inline export function sLevel(s: u32): u32 { return load<u32>(d(s), 20); }
@inline function sLru(s: u32): usize { return load<u32>(d(s), 24); }
@inline function sEntries(s: u32): u32 { return (sSetsMask(s) + 1) * sWays(s); }

/** Declares structure number s (called by the facade at create; entries start invalid). */
export function tlbDefine(s: u32, base: usize, sets: u32, ways: u32, kind: u32, sides: u32, level: u32, lru: usize): void {
  const p = d(s);
  store<u32>(p, <u32>base, 0);
  store<u32>(p, sets - 1, 4);
  store<u32>(p, ways, 8);
  store<u32>(p, kind, 12);
  store<u32>(p, sides, 16);
  store<u32>(p, level, 20);
  store<u32>(p, <u32>lru, 24);
  memory.fill(base, 0, <usize>(sets * ways) * 16);
  memory.fill(lru, 0, <usize>(sets * ways) * 4);
  if (s + 1 > structCount) structCount = s + 1;
}

// The first-level 4 KiB structure of each side, probed first on every translation (the hit
// path): its entries, set mask, ways and structure number; base 0 if the side has none.
export let primIBase: usize = 0;
export let primISets: u32 = 0;
export let primIWays: u32 = 0;
export let primI: u32 = 0;
export let primDBase: usize = 0;
export let primDSets: u32 = 0;
export let primDWays: u32 = 0;
export let primD: u32 = 0;
// Structure number holding translations of a page-size kind for a side (0 I, 1 D) at a TLB
// level (1, 2), or -1: at most one each (the facade checks).
const structFor = memory.data(2 * 2 * 3 * 4);
@inline export function tlbStruct(sideIdx: u32, level: u32, kind: u32): i32 {
  return load<i32>(structFor + <usize>((sideIdx * 2 + level - 1) * 3 + kind) * 4);
}
// Structure number of the cache of level-l entries (l = 2..5), or -1.
const pwcOf = memory.data(4 * 6);
@inline export function pwcStruct(level: u32): i32 { return load<i32>(pwcOf + <usize>level * 4); }

/** Indexes the structures defined so far; tlb / pwc: whether there are any of each. */
export function tlbConfigure(tlb: bool, pwc: bool): void {
  tlbOn = tlb;
  pwcOn = pwc;
  ctxReset();
  primIBase = 0;
  primDBase = 0;
  for (let l: u32 = 0; l < 6; l++) store<i32>(pwcOf + <usize>l * 4, -1);
  for (let i: u32 = 0; i < 12; i++) store<i32>(structFor + <usize>i * 4, -1);
  for (let s = structCount; s-- > 0; ) {
    const kind = sKind(s);
    if (kind >= KIND_PWC) { store<i32>(pwcOf + <usize>(kind - KIND_PWC + 2) * 4, s); continue; }
    for (let side: u32 = 0; side < 2; side++) {
      if (sSides(s) & (1 << side)) store<i32>(structFor + <usize>((side * 2 + sLevel(s) - 1) * 3 + kind) * 4, s);
    }
    if (kind != KIND_4K || sLevel(s) != 1) continue;
    if (sSides(s) & SIDE_I) { primIBase = sBase(s); primISets = sSetsMask(s); primIWays = sWays(s); primI = s; }
    if (sSides(s) & SIDE_D) { primDBase = sBase(s); primDSets = sSetsMask(s); primDWays = sWays(s); primD = s; }
  }
}

/** Tag of va in a structure whose unit is 1 << shift bytes (vaMask drops sign extension). */
@inline export function tagOf(va: u64, kind: u32, shift: u64, vaMask: u64): u64 {
  if (kind < KIND_PWC) return ((va & vaMask) >> shift) << (shift - 12);
  return (va & vaMask) >> shift;
}

// Masks of an entry's first u64 (w0 | w1 << 32) for the match: tag, valid and PCID for an entry
// of the current PCID; tag, valid and global for a global one.
const KEY_PCID: u64 = (<u64>W1_KEY_MASK << 32) | TAG_MASK;
const KEY_GLOBAL: u64 = (<u64>W1_GLOBAL_KEY_MASK << 32) | TAG_MASK;

/** The first u64 of a valid entry of the current PCID holding tag. */
@inline function keyOf(tag: u64): u64 {
  return tag | (<u64>(W1_VALID | (curCtx << W1_PCID_SHIFT)) << 32);
}

/** True if the entry translates tag for the current PCID (its own or global). */
@inline function matchesKey(e: usize, key: u64): bool {
  const k = load<u64>(e);
  return (k & KEY_PCID) == key || (k & KEY_GLOBAL) == ((key & TAG_MASK) | (<u64>(W1_VALID | W1_GLOBAL) << 32));
}

@inline function matches(e: usize, tag: u64): bool {
  return matchesKey(e, keyOf(tag));
}

/** Finds the entry for tag in structure s; 0 if none. */
@inline export function probe(s: u32, set: u32, tag: u64): usize {
  const ways = sWays(s);
  const key = keyOf(tag);
  let e = sBase(s) + <usize>(set * ways) * 16;
  for (let w: u32 = 0; w < ways; w++, e += 16) {
    if (matchesKey(e, key)) return e;
  }
  return 0;
}

/** Marks an entry most recently used. */
@inline export function touch(s: u32, e: usize): void {
  // The clock lives in the control block: JavaScript's inline hits advance it too.
  const t = load<u32>(ctrlBase + CTRL_TICK) + 1;
  store<u32>(ctrlBase + CTRL_TICK, t);
  store<u32>(sLru(s) + ((e - sBase(s)) >> 2), t);
}

/** The entry to (re)fill for tag: the matching one, an invalid one, else the least recently used. */
export function victim(s: u32, set: u32, tag: u64): usize {
  const ways = sWays(s);
  const first = sBase(s) + <usize>(set * ways) * 16;
  const lru = sLru(s) + <usize>(set * ways) * 4;
  let best = first;
  let bestAge: u32 = 0xFFFFFFFF;
  for (let w: u32 = 0; w < ways; w++) {
    const e = first + <usize>w * 16;
    if (matches(e, tag)) return e;
    if (!eLive(e)) { bestAge = 0; best = e; continue; }
    const age = load<u32>(lru + <usize>w * 4);
    if (bestAge != 0 && age < bestAge) { bestAge = age; best = e; }
  }
  return best;
}

/** Writes an entry (over what victim() chose). */
@inline export function fill(s: u32, e: usize, tag: u64, global: bool, frame: u64, w3: u32): void {
  const pwc = sKind(s) >= KIND_PWC;
  forget(e, pwc);
  if (!global) ctxCount(curCtx, pwc, 1);
  store<u32>(e, <u32>tag, 0);
  store<u32>(e, W1_VALID | (global ? W1_GLOBAL : 0) | ((global ? curPcid : curCtx) << W1_PCID_SHIFT) | <u32>(tag >> 32), 4);
  store<u32>(e, <u32>frame, 8);
  store<u32>(e, (w3 & ~W3_FRAME_HI) | (<u32>(frame >> 32) & W3_FRAME_HI), 12);
  touch(s, e);
}

export function statStruct(s: u32, hit: bool): void {
  statAdd(STAT_STRUCT + <usize>s * 2 + (hit ? 0 : 1), 1);
}

// Contexts. A PCID's non-global entries carry its context number, not the PCID itself, so that
// dropping them all (MOV to CR3, INVPCID single-context: every context switch of a kernel without
// PCIDs) is O(1): the PCID gets a fresh context and the old one dies. An entry of a dead context
// is invalid everywhere (no lookup can match it: no PCID has that context; victim() and the
// scans treat it as empty), as if it had been cleared. Exact counts come from per-context counts
// of live entries; a context is reused only when no entry holds it any more, and when none is
// free a sweep clears the dead entries (once per thousands of flushes).
const NO_CTX: u32 = 0xFFFF;
const NCTX: u32 = 4096;
const ctxOfPcid = memory.data(<i32>NCTX * 2); //  u16 per PCID: its context, or NO_CTX
const ctxOwner = memory.data(<i32>NCTX * 2); //   u16 per context: owning PCID + 1, 0 if dead or free
const ctxHeld = memory.data(<i32>NCTX * 4); //    u32 per context: non-global entries holding it (live or dead)
const ctxLive = memory.data(<i32>NCTX * 8); //    u32 per context and kind (TLB, PWC): its live non-global entries
let nextCtx: u32 = 0;

@inline function ctxOf(pcid: u32): u32 { return load<u16>(ctxOfPcid + <usize>pcid * 2); }
@inline function ctxAlive(ctx: u32): bool { return load<u16>(ctxOwner + <usize>ctx * 2) != 0; }
@inline function liveAt(ctx: u32, pwc: bool): usize { return ctxLive + <usize>ctx * 8 + (pwc ? 4 : 0); }

/** Counts a non-global entry of ctx in (n = 1) or out (n = -1). */
@inline function ctxCount(ctx: u32, pwc: bool, n: i32): void {
  store<u32>(ctxHeld + <usize>ctx * 4, load<u32>(ctxHeld + <usize>ctx * 4) + n);
  if (ctxAlive(ctx)) store<u32>(liveAt(ctx, pwc), load<u32>(liveAt(ctx, pwc)) + n);
}

/** True if the entry is valid: set, and global or of a context still alive. */
@inline export function eLive(e: usize): bool {
  const w1 = load<u32>(e, 4);
  if (!(w1 & W1_VALID)) return false;
  return (w1 & W1_GLOBAL) != 0 || ctxAlive((w1 >> W1_PCID_SHIFT) & 0xFFF);
}

/** The PCID a valid entry belongs to (globals: the PCID they were filled under). */
@inline function ePcidOf(e: usize): u32 {
  const f = ePcid(e);
  return eGlobal(e) ? f : <u32>load<u16>(ctxOwner + <usize>f * 2) - 1;
}

/** Takes the entry out of its context's counts (before it is cleared or overwritten). */
@inline function forget(e: usize, pwc: bool): void {
  const w1 = load<u32>(e, 4);
  if ((w1 & W1_VALID) && !(w1 & W1_GLOBAL)) ctxCount((w1 >> W1_PCID_SHIFT) & 0xFFF, pwc, -1);
}

/** Clears a live entry. */
@inline function drop(e: usize, pwc: bool): void {
  forget(e, pwc);
  eInvalidate(e);
}

/** Gives every PCID its own context again and empties all counts (at configuration). */
function ctxReset(): void {
  memory.fill(ctxOfPcid, 0xFF, <usize>NCTX * 2);
  memory.fill(ctxOwner, 0, <usize>NCTX * 2);
  memory.fill(ctxHeld, 0, <usize>NCTX * 4);
  memory.fill(ctxLive, 0, <usize>NCTX * 8);
  nextCtx = 0;
}

/** Clears every entry of a dead context, so that its context can be reused. */
function sweep(): void {
  for (let s: u32 = 0; s < structCount; s++) {
    const pwc = sKind(s) >= KIND_PWC;
    let e = sBase(s);
    const n = sEntries(s);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      if (eValid(e) && !eLive(e)) drop(e, pwc);
    }
  }
}

/** The context of pcid, given a free one if it has none. */
function ctxEnsure(pcid: u32): u32 {
  let c = ctxOf(pcid);
  if (c != NO_CTX) return c;
  for (let pass = 0; pass < 2; pass++) {
    for (let k: u32 = 0; k < NCTX; k++) {
      c = nextCtx;
      nextCtx = (nextCtx + 1) & (NCTX - 1);
      if (!ctxAlive(c) && load<u32>(ctxHeld + <usize>c * 4) == 0) {
        store<u16>(ctxOfPcid + <usize>pcid * 2, <u16>c);
        store<u16>(ctxOwner + <usize>c * 2, <u16>(pcid + 1));
        store<u64>(ctxLive + <usize>c * 8, 0);
        return c;
      }
    }
    sweep(); // at most NCTX - 1 contexts are alive, so a free one exists after it
  }
  unreachable(); // an emulator bug, not a guest condition
  return 0;
}

/** Drops every non-global entry of pcid, TLB and PWC, in O(1): its context dies. */
function ctxRetire(pcid: u32): void {
  const c = ctxOf(pcid);
  if (c == NO_CTX) return; // nothing was filled for it since it last lost its context
  statAdd(STAT_TLB_INVALIDATED, load<u32>(liveAt(c, false)));
  statAdd(STAT_PWC_INVALIDATED, load<u32>(liveAt(c, true)));
  store<u16>(ctxOwner + <usize>c * 2, 0);
  store<u16>(ctxOfPcid + <usize>pcid * 2, <u16>NO_CTX);
  if (pcid == curPcid) setCurCtx();
}

/** Makes the current PCID's context current (and tells the inline path). */
function setCurCtx(): void {
  curCtx = ctxEnsure(curPcid);
  store<u32>(ctrlBase + CTRL_KEY, mode == MODE_OFF ? CTRL_NO_KEY : <u32>(ctxKey() >> 32));
}

/**
 * Invalidates entries: TLB entries if tlb, PWC entries if pwc; only those tagged with pcid
 * (-1: any); globals only if withGlobal. Counts invalidated entries.
 */
export function invalidate(tlb: bool, pwc: bool, pcid: i32, withGlobal: bool): void {
  if (tlb && pwc && pcid >= 0 && !withGlobal) {
    ctxRetire(<u32>pcid);
    return;
  }
  let nTlb: u64 = 0, nPwc: u64 = 0;
  for (let s: u32 = 0; s < structCount; s++) {
    const isPwc = sKind(s) >= KIND_PWC;
    if (isPwc ? !pwc : !tlb) continue;
    let e = sBase(s);
    const n = sEntries(s);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      if (!eLive(e)) continue;
      if (pcid >= 0 && ePcidOf(e) != <u32>pcid) continue;
      if (eGlobal(e) && !withGlobal) continue;
      drop(e, isPwc);
      if (isPwc) nPwc++; else nTlb++;
    }
  }
  statAdd(STAT_TLB_INVALIDATED, nTlb);
  statAdd(STAT_PWC_INVALIDATED, nPwc);
}

/**
 * Invalidates the TLB entries (any structure, any size, slices included) that translate the page
 * containing va for the current PCID or globally (INVLPG, INVPCID type 0 with pcid, page faults).
 */
export function invalidatePage(va12: u64, pcid: u32, withGlobal: bool): void {
  let n: u64 = 0;
  for (let s: u32 = 0; s < structCount; s++) {
    if (sKind(s) >= KIND_PWC) continue;
    let e = sBase(s);
    const count = sEntries(s);
    for (let i: u32 = 0; i < count; i++, e += 16) {
      if (!eLive(e)) continue;
      if (eGlobal(e) ? !withGlobal : ePcidOf(e) != pcid) continue;
      // The unit this entry translates: its original page size, slices included.
      const size = eSize(e);
      const shift: u64 = size == 0 ? 0 : size == 1 ? (largeShift - 12) : 18;
      if ((eTag(e) >> shift) == (va12 >> shift)) { drop(e, false); n++; }
    }
  }
  statAdd(STAT_TLB_INVALIDATED, n);
}


@inline export function flushStat(cause: u32): void {
  statAdd(STAT_FLUSH + <usize>cause, 1);
}


/** Page shift of each structure kind in the current mode, and the linear-address mask. */
export let vaMask: u64 = 0xFFFFFFFF;

/** Sets what the current mode and CR3 imply for tagging and indexing. */
export function tlbSetContext(pcid: u32, large: u64, mask: u64): void {
  curPcid = pcid;
  largeShift = large;
  vaMask = mask;
  setCurCtx();
  // For the inline path: how to tell a canonical address from its high word.
  const c = ctrlBase;
  store<u32>(c + CTRL_HI_MASK, <u32>(mask >> 32));
  store<u32>(c + CTRL_TOP_SHIFT, mode == MODE_5L ? 24 : mode == MODE_4L ? 15 : 0);
  store<i32>(c + <usize>CTRL_TOP_NEG, mode >= MODE_4L ? -1 : 0);
}

/** Page shift of a structure kind in the current mode. */
@inline export function kindShift(kind: u32): u64 {
  if (kind == KIND_4K) return 12;
  if (kind == KIND_LARGE) return largeShift;
  if (kind == KIND_1G) return 30;
  return geoShift(kind - KIND_PWC + 2);
}

/** Level of the entry pwcLookup() found. */
export let pwcHitLevel: u32 = 0;

/**
 * The deepest paging-structure-cache entry for va, levels 2..top probed deepest first (SDM
 * 4.10.3.2), or 0; sets pwcHitLevel. Counts a hit in the cache that answered and a miss in
 * each cache consulted before it.
 */
@inline export function pwcLookup(va: u64, top: u32): usize {
  for (let l: u32 = 2; l <= top; l++) {
    const si = pwcStruct(l);
    if (si < 0) continue;
    const s = <u32>si;
    const tag = tagOf(va, KIND_PWC, geoShift(l), vaMask);
    const e = probe(s, <u32>tag & sSetsMask(s), tag);
    statStruct(s, e != 0);
    if (e) {
      touch(s, e);
      pwcHitLevel = l;
      return e;
    }
  }
  return 0;
}

/** Caches a non-leaf entry of level l (its table address and the rights down to it). */
export function pwcFill(va: u64, l: u32, table: u64, rights: u32): void {
  const si = pwcStruct(l);
  if (si < 0) return;
  const s = <u32>si;
  const tag = tagOf(va, KIND_PWC, geoShift(l), vaMask);
  fill(s, victim(s, <u32>tag & sSetsMask(s), tag), tag, false, table >> 12, rights << W3_RIGHTS_SHIFT);
}

/**
 * Caches a translation in the TLB structures of the access's side (instruction fetches: I;
 * data: D), at both levels. A page size with no structure of its own there is held as 4 KiB
 * slices in the 4 KiB structure (as spike's fake leaves, and as CPUs fracture pages).
 */
export function tlbFill(va: u64, access: u32, leaf: u64, level: u32, rights: u32, pa: u64): void {
  const sideIdx: u32 = (access & ACC_FETCH) ? 0 : 1;
  const size: u32 = level - 1; // KIND_4K, KIND_LARGE or KIND_1G
  const global = pge && (rights & RIGHT_G) != 0;
  // The key is cached even with CR4.PKE = 0: MOV to CR4 setting PKE does not flush (SDM 4.10.4.1).
  const pk = mode >= MODE_4L ? <u32>(leaf >> PTE_PK_SHIFT) & 15 : 0;
  const dirty = (leaf & PTE_D) != 0 || (access & ACC_WRITE) != 0;
  const w3 = (allowBits(rights & 7, pk, dirty) << W3_ALLOW_SHIFT) | (pk << W3_PK_SHIFT) | ((rights & 7) << W3_RIGHTS_SHIFT) |
    (dirty ? W3_DIRTY : 0) | (size << W3_SIZE_SHIFT);
  for (let lvl: u32 = 1; lvl <= 2; lvl++) {
    let kind = size;
    let si = tlbStruct(sideIdx, lvl, kind);
    if (si < 0 && kind != KIND_4K) si = tlbStruct(sideIdx, lvl, (kind = KIND_4K));
    if (si < 0) continue;
    const s = <u32>si;
    const sh = kindShift(kind);
    const tag = tagOf(va, kind, sh, vaMask);
    const set = <u32>(tag >> (sh - 12)) & sSetsMask(s);
    fill(s, victim(s, set, tag), tag, global, (pa & ~((<u64>1 << sh) - 1)) >> 12, w3);
  }
}

/**
 * Looks va up in the TLBs of the access's side: the first level, then the second (which
 * refills the first). Returns the entry whose ALLOW bit permits the access, or 0 (a walk is
 * needed: no entry, or one that does not permit this access, such as a first write to a clean
 * page). Counts a hit in the structure that answered, or a miss in each one of the level.
 */
export function tlbLookup(va: u64, access: u32): usize {
  const sideIdx: u32 = (access & ACC_FETCH) ? 0 : 1;
  const allow: u32 = 1 << accessIndex(access);
  for (let lvl: u32 = 1; lvl <= 2; lvl++) {
    for (let kind: u32 = 0; kind < 3; kind++) {
      const si = tlbStruct(sideIdx, lvl, kind);
      if (si < 0) continue;
      const s = <u32>si;
      const sh = kindShift(kind);
      const tag = tagOf(va, kind, sh, vaMask);
      const e = probe(s, <u32>(tag >> (sh - 12)) & sSetsMask(s), tag);
      if (e && (eAllow(e) & allow)) {
        touch(s, e);
        statStruct(s, true);
        hitStruct = s;
        if (lvl == 2) refillL1(va, sideIdx, e, kind);
        return e;
      }
    }
    for (let kind: u32 = 0; kind < 3; kind++) {
      const si = tlbStruct(sideIdx, lvl, kind);
      if (si >= 0) statStruct(<u32>si, false);
    }
  }
  return 0;
}

/** Copies a second-level hit into the first level: same kind, or a 4 KiB slice of it. */
function refillL1(va: u64, sideIdx: u32, e: usize, fromKind: u32): void {
  let kind = fromKind;
  let si = tlbStruct(sideIdx, 1, kind);
  if (si < 0 && kind != KIND_4K) si = tlbStruct(sideIdx, 1, (kind = KIND_4K));
  if (si < 0) return;
  const s = <u32>si;
  const sh = kindShift(kind);
  const tag = tagOf(va, kind, sh, vaMask);
  const set = <u32>(tag >> (sh - 12)) & sSetsMask(s);
  // A 4 KiB slice of a larger unit: its frame is the unit's frame plus va's offset in it.
  const frame = eFrame(e) + (((va & vaMask) >> 12) & ((<u64>1 << (kindShift(fromKind) - sh)) - 1));
  fill(s, victim(s, set, tag), tag, eGlobal(e), frame, eW3(e));
}

export let hitStruct: u32 = 0;

/** Invalidations a page fault at va makes. */
export function faultInvalidate(va: u64): void {
  flushStat(FLUSH_FAULT);
  if (tlbOn) invalidatePage((va & vaMask) >> 12, curPcid, true);
  if (!pwcOn) return;
  for (let l: u32 = 2; l <= topLevel; l++) {
    const si = pwcStruct(l);
    if (si < 0) continue;
    const tag = tagOf(va, KIND_PWC, geoShift(l), vaMask);
    const e = probe(<u32>si, <u32>tag & sSetsMask(<u32>si), tag);
    if (e) drop(e, true);
  }
}


// The hit path. A side's first-level 4 KiB structure is probed before anything else; callers
// read its descriptor (primIBase.. / primDBase..) and the key and ALLOW bit of the access once
// (a batch once per batch) and pass them in, so a hit is two loads and three compares.

/** The current PCID's part of an entry's first u64; OR the tag into it for a match key. */
@inline export function ctxKey(): u64 {
  return <u64>(W1_VALID | (curCtx << W1_PCID_SHIFT)) << 32;
}

/** The ALLOW bit of an access where it sits in an entry's second u64 (w2 | w3 << 32). */
@inline export function allowMask(access: u32): u64 {
  return <u64>(1 << accessIndex(access)) << (32 + W3_ALLOW_SHIFT);
}

/**
 * The entry of structure s (base, setsMask, ways) that translates va's page for the current
 * PCID and allows the access (allow: allowMask()), or 0. Marks it most recently used.
 */
@inline export function hitProbe(va: u64, base: usize, setsMask: u32, ways: u32, s: u32, key0: u64, allow: u64): usize {
  const tag = (va & vaMask) >> 12;
  let e = base + (<usize>((<u32>tag & setsMask) * ways) << 4);
  const key = tag | key0;
  for (let w: u32 = 0; w < ways; w++, e += 16) {
    if (!matchesKey(e, key)) continue;
    if (!(load<u64>(e, 8) & allow)) return 0;
    if (ways > 1) touch(s, e);
    return e;
  }
  return 0;
}

/** Physical address of va through a 4 KiB TLB entry. */
@inline export function hitPa4K(e: usize, va: u64): u64 {
  return (eFrame(e) << 12) | (va & 0xFFF);
}

/** hitProbe() in the first-level 4 KiB structure of the access's side; 0 if it has none. */
@inline export function fastHit(va: u64, access: u32): usize {
  if (access & ACC_FETCH) return primIBase ? hitProbe(va, primIBase, primISets, primIWays, primI, ctxKey(), allowMask(access)) : 0;
  return primDBase ? hitProbe(va, primDBase, primDSets, primDWays, primD, ctxKey(), allowMask(access)) : 0;
}

/** Counts n hits of fastHit() in the primary structure of a side (callers batch them). */
@inline export function countFastHits(fetch: bool, n: u64): void {
  if (n == 0) return;
  statAdd(STAT_STRUCT + <usize>(fetch ? primI : primD) * 2, n);
  statAdd(STAT_TLB_HITS, n);
}

/** Points the TLBs at the current mode and PCID (after setControl). */
export function syncContext(): void {
  const m = mode;
  const mask: u64 = m == MODE_5L ? bits(56, 0) : m == MODE_4L ? bits(47, 0) : 0xFFFFFFFF;
  tlbSetContext(pcide ? <u32>(cr3 & 0xFFF) : 0, m == MODE_32 ? 22 : 21, mask);
  refreshAllowTables();
}

/**
 * MOV to CR3 (the value checked by the facade; bit 63 already taken off as noFlush): loads it
 * (PAE: its PDPTEs), points the TLBs at its PCID and, unless noFlush, drops that PCID's
 * non-global entries (SDM 4.10.4.1). Returns false and changes nothing if a PDPTE is invalid.
 */
export function movCr3(lo: u32, hi: u32, noFlush: bool): bool {
  const v = (<u64>hi << 32) | lo;
  if (!setControl(cr0, v, cr4, efer, pkru, true)) return false;
  syncContext();
  if (!noFlush) flushFor(FLUSH_CR3, <i32>curPcid, false);
  return true;
}

/** Recomputes every TLB entry's ALLOW bits from its cached rights under the current registers
 * (WP, SMEP, SMAP, NXE, PKE, PKRU changed without an invalidation). */
export function rederiveAllow(): void {
  for (let s: u32 = 0; s < structCount; s++) {
    if (sKind(s) >= KIND_PWC) continue;
    let e = sBase(s);
    const n = (sSetsMask(s) + 1) * sWays(s);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      if (!(load<u32>(e, 4) & W1_VALID)) continue;
      const allow = allowBits(eRights(e), ePk(e), eDirty(e));
      store<u32>(e, (eW3(e) & ~(<u32>0xFF << W3_ALLOW_SHIFT)) | (allow << W3_ALLOW_SHIFT), 12);
    }
  }
}

/** INVLPG: the TLB entries for va's page (current PCID, and global ones) and all PWC entries of
 * the current PCID (SDM 4.10.4.1). No effect on a non-canonical address. */
export function invlpg(va: u64): void {
  flushStat(FLUSH_INVLPG);
  if (tlbOn) invalidatePage((va & vaMask) >> 12, curPcid, true);
  if (pwcOn) invalidate(false, true, curPcid, false);
}

/** INVPCID types 0-3 (checked by the facade). */
export function invpcid(type: u32, pcid: u32, va: u64): void {
  flushStat(FLUSH_INVPCID);
  if (type == 0) {
    if (tlbOn) invalidatePage((va & vaMask) >> 12, pcid, false);
    if (pwcOn) invalidate(false, true, pcid, false);
  } else if (type == 1) invalidate(true, true, pcid, false);
  else invalidate(true, true, -1, type == 2);
}

/** Invalidation by a control-register write: cause FLUSH_*, pcid -1 for all. */
export function flushFor(cause: u32, pcid: i32, withGlobal: bool): void {
  flushStat(cause);
  invalidate(true, true, pcid, withGlobal);
}
