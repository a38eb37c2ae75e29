// The page walk: one loop for every paging mode, driven by the geometry in state.ts and
// generic over the entry type (u32 for 32-bit paging, u64 otherwise). SDM Vol. 3A 4.3-4.7.
//
// Rights accumulate as in QEMU's mmu_translate: R/W and U/S are ANDed over the levels, XD is
// ORed; the fault is decided once, after the leaf. Nothing is written unless the access is
// allowed: then Accessed is set in every entry used and Dirty in the leaf on a write.

import {
  ACC_FETCH, ACC_PROBE, ACC_WRITE, MODE_32, MODE_4L, MODE_5L, MODE_OFF, MODE_PAE, PF_P, PF_RSVD,
  PTE_A, PTE_D, PTE_G, PTE_P, PTE_PS, PTE_RW, PTE_US, PTE_XD, ST_GP, ST_OK, ST_PF,
} from "./x86";

import {
  RES_ERROR, RES_HIT, RES_LEAF, RES_LEVEL, RES_MEMREFS, RES_PA, RES_RIGHTS, RES_SHIFT, RES_STATUS,
  RIGHT_G, RIGHT_U, RIGHT_W, RIGHT_XD, STAT_A_WRITES, STAT_D_WRITES, STAT_GP_FAULTS,
  STAT_PAGE_FAULTS, STAT_WALKS, STAT_WALK_MEMREFS, bits, ctrlBase, geoRsvdLarge, geoRsvdTable,
  idxBits, largeAllowed, levelShift, mode, nxe, pdpte, physAddrBits, ramBase, ramSize, root,
  statAdd, pge,
} from "./state";
import { accessBits, rightsFault } from "./rights";
import {
  STAT_TLB_HITS, STAT_TLB_MISSES, W3_RIGHTS_SHIFT, allowMask, countFastHits, ctxKey, eFrame, eGlobal, eRights,
  eSize, eW3, fastHit, faultInvalidate, hitPa4K, hitProbe, hitStruct, primD, primDBase, primDSets,
  primDWays, primI, primIBase, primISets, primIWays, kindShift, largeShift,
  pwcFill, pwcHitLevel, pwcLookup, pwcOn, sKind, tlbFill, tlbLookup, tlbOn,
} from "./tlb";

// Physical address of each entry the current walk read, and the rights accumulated down to
// it, by level: for the A/D pass and for filling the paging-structure caches.
const walkEntryPA = memory.data(8 * 6);
const walkRights = memory.data(4 * 6);

/** Table-address bits of a non-leaf entry. */
@inline export function tableAddr<E>(entry: u64): u64 {
  return sizeof<E>() == 4 ? entry & 0xFFFFF000 : entry & bits(51, 12);
}

/** Reads an entry from guest RAM; all ones if it lies outside RAM. */
@inline export function readEntry<E>(pa: u64): u64 {
  if (pa > ramSize - sizeof<E>()) return sizeof<E>() == 4 ? <u64>0xFFFFFFFF : <u64>-1;
  return <u64>load<E>(ramBase + <usize>pa);
}

/** ORs bits into an entry in guest RAM (A/D updates); dropped outside RAM. */
@inline function setEntryBits<E>(pa: u64, set: u64): void {
  if (pa > ramSize - sizeof<E>()) return;
  const p = ramBase + <usize>pa;
  store<E>(p, load<E>(p) | <E>set);
}

/** Base physical address of the page a leaf maps. */
@inline export function leafBase<E>(entry: u64, level: u32, shift: u64): u64 {
  if (sizeof<E>() == 4) {
    if (level == 1) return entry & 0xFFFFF000;
    // 4 MiB page: PSE-36 high address bits (M-1):32 sit in entry bits (M-20):13.
    const m = physAddrBits < 40 ? physAddrBits : 40;
    return (entry & 0xFFC00000) | (((entry >> 13) & ((<u64>1 << (m - 32)) - 1)) << 32);
  }
  return entry & bits(51, 12) & ~((<u64>1 << shift) - 1);
}

// The last translation's outcome, in globals; writeResult() copies it to the control block for
// the facade (batches read rPa only).
let rStatus: u32 = 0;
let rError: u32 = 0;
let rPa: u64 = 0;
let rLeaf: u64 = 0; //      the leaf entry a walk read (0 when a TLB entry answered)
let rShift: u32 = 0;
let rLevel: u32 = 0;
let rMemRefs: u32 = 0;
let rRights: u32 = 0;
let rHitEntry: usize = 0; // the TLB entry that answered, or 0

/** Copies the last outcome to the control block (RES_*). */
function writeResult(): void {
  const c = ctrlBase;
  if (rHitEntry) {
    // Everything but the address comes from the TLB entry that answered.
    const size = eSize(rHitEntry);
    rShift = size == 0 ? 12 : size == 1 ? <u32>largeShift : 30;
    rLevel = size + 1;
    // Rights under the current registers: a cached XD means nothing once NXE is cleared.
    rRights = (eRights(rHitEntry) & (nxe ? 7 : ~RIGHT_XD)) | (eGlobal(rHitEntry) ? RIGHT_G : 0);
    rLeaf = 0;
    rMemRefs = 0;
  }
  store<u32>(c + RES_STATUS, rStatus);
  store<u32>(c + RES_ERROR, rError);
  store<u64>(c + RES_PA, rPa);
  store<u64>(c + RES_LEAF, rLeaf);
  store<u32>(c + RES_SHIFT, rShift);
  store<u32>(c + RES_LEVEL, rLevel);
  store<u32>(c + RES_MEMREFS, rMemRefs);
  store<u32>(c + RES_RIGHTS, rRights);
  store<u32>(c + RES_HIT, rHitEntry ? 1 : 0);
}

// Counters kept in globals while calls run and added to the counter block by flushCounters():
// before translate(), translate2() and batches return, and by flushStats() before the facade
// reads the block (translatePa() leaves them pending: it is the cheapest per-address call).
let nWalks: u64 = 0;
let nMemRefs: u64 = 0;
let nHitsI: u64 = 0; // first-level hits on the fast path
let nHitsD: u64 = 0;

@inline function flushCounters(): void {
  if (nWalks) {
    statAdd(STAT_WALKS, nWalks);
    statAdd(STAT_WALK_MEMREFS, nMemRefs);
    nWalks = 0;
    nMemRefs = 0;
  }
  if (nHitsI | nHitsD) {
    countFastHits(true, nHitsI);
    countFastHits(false, nHitsD);
    nHitsI = 0;
    nHitsD = 0;
  }
}

/** Adds every pending counter to the counter block (the facade calls it before reading). */
export function flushStats(): void {
  flushCounters();
}

@inline function pageFault(errorCode: u32, level: u32, memRefs: u32, access: u32): u32 {
  rStatus = ST_PF;
  rError = errorCode;
  rLevel = level;
  rMemRefs = memRefs;
  rHitEntry = 0;
  if (!(access & ACC_PROBE)) {
    nWalks++;
    nMemRefs += memRefs;
    statAdd(STAT_PAGE_FAULTS, 1);
  }
  return ST_PF;
}

/**
 * Walks the tables for linear address va. Sets the r* result and returns ST_OK or ST_PF.
 * The caller has checked canonicality and that paging is on. Written once, compiled once per
 * paging mode (walk32, walkPae, walk4, walk5): E is the entry type, TOP the level of the first
 * entry read from memory, PAE whether the top level comes from the PDPTE registers. With
 * these constant, the level arithmetic folds and each mode gets its own straight walk.
 */
@inline function walkIn<E>(va: u64, access: u32, TOP: u32, PAE: bool): u32 {
  const MASK: u64 = (<u64>1 << idxBits<E>()) - 1;
  let level = TOP;
  let table = root;
  let memRefs: u32 = 0;
  let andBits: u64 = PTE_RW | PTE_US; // AND of R/W and U/S over the levels
  let andA: u64 = PTE_A; //              AND of the Accessed flags read
  let orXd: u64 = 0; //                  OR of XD over the levels
  if (PAE) {
    // The PDPTE comes from the registers loaded at MOV CR3: no memory read, no rights.
    const e = load<u64>(pdpte + <usize>((va >> 30) & 3) * 8);
    if (!(e & PTE_P)) return pageFault(accessBits(access), 3, 0, access);
    table = e & bits(51, 12);
  }
  // Paging-structure caches: start below the deepest cached entry for va (SDM 4.10.3.2).
  let startLevel = level;
  const usePwc = pwcOn && !(access & ACC_PROBE);
  if (usePwc) {
    const e = pwcLookup(va, TOP);
    if (e) {
      const w3 = eW3(e);
      andBits = <u64>((w3 >> W3_RIGHTS_SHIFT) & 3) << 1; // R/W, U/S as entry bits 1 and 2
      orXd = (w3 & (RIGHT_XD << W3_RIGHTS_SHIFT)) ? PTE_XD : 0;
      table = eFrame(e) << 12;
      level = pwcHitLevel - 1;
      startLevel = level;
    }
  }
  let entry: u64 = 0;
  let shift: u64 = 0;
  while (true) {
    shift = levelShift<E>(level);
    const pa = table + ((va >> shift) & MASK) * sizeof<E>();
    entry = readEntry<E>(pa);
    memRefs++;
    store<u64>(walkEntryPA + <usize>level * 8, pa);
    if (!(entry & PTE_P)) return pageFault(accessBits(access), level, memRefs, access);
    const large = level > 1 && (entry & PTE_PS) != 0 && largeAllowed(level);
    const rsvd = large ? geoRsvdLarge(level) : geoRsvdTable(level);
    if (entry & rsvd) return pageFault(PF_P | PF_RSVD | accessBits(access), level, memRefs, access);
    andBits &= entry;
    orXd |= entry;
    andA &= entry;
    if (usePwc) store<u32>(walkRights + <usize>level * 4, <u32>(andBits & (PTE_RW | PTE_US)) >> 1 | ((orXd & PTE_XD) ? RIGHT_XD : 0));
    if (large || level == 1) break;
    table = tableAddr<E>(entry);
    level--;
  }

  let rights: u32 = <u32>(andBits & (PTE_RW | PTE_US)) >> 1; // RIGHT_W = 1, RIGHT_U = 2
  if (nxe && (orXd & PTE_XD)) rights |= RIGHT_XD;
  if (pge && (entry & PTE_G)) rights |= RIGHT_G; // global only with CR4.PGE = 1 (SDM 4.10.2.4), as a TLB hit reports it
  const fault = rightsFault(rights, entry, access);
  if (fault) return pageFault(fault, level, memRefs, access);

  rStatus = ST_OK;
  rPa = leafBase<E>(entry, level, shift) | (va & ((<u64>1 << shift) - 1));
  rLeaf = entry;
  rShift = <u32>shift;
  rLevel = level;
  rMemRefs = memRefs;
  rRights = rights;
  rHitEntry = 0;
  if (access & ACC_PROBE) return ST_OK;

  nWalks++;
  nMemRefs += memRefs;
  // Accessed in every entry used (top down, as the walk read them); Dirty in the leaf. Most
  // walks find them set already: then only the paging-structure caches are filled.
  const needD = (access & ACC_WRITE) != 0 && !(entry & PTE_D);
  if (!(andA & PTE_A) || needD || usePwc) {
    let aWrites: u64 = 0;
    for (let l = startLevel; l >= level; l--) {
      const pa = load<u64>(walkEntryPA + <usize>l * 8);
      let set: u64 = 0;
      const e = l == level ? entry : readEntry<E>(pa);
      if (!(e & PTE_A)) { set = PTE_A; aWrites++; }
      if (l == level && needD) { set |= PTE_D; statAdd(STAT_D_WRITES, 1); }
      if (set) setEntryBits<E>(pa, set);
      if (l > level && usePwc) pwcFill(va, l, tableAddr<E>(e), load<u32>(walkRights + <usize>l * 4));
    }
    if (aWrites) statAdd(STAT_A_WRITES, aWrites);
  }
  if (tlbOn) tlbFill(va, access, entry, level, rights, rPa);
  return ST_OK;
}

function walk32(va: u64, access: u32): u32 { return walkIn<u32>(va, access, 2, false); }
function walkPae(va: u64, access: u32): u32 { return walkIn<u64>(va, access, 2, true); }
function walk4(va: u64, access: u32): u32 { return walkIn<u64>(va, access, 4, false); }
function walk5(va: u64, access: u32): u32 { return walkIn<u64>(va, access, 5, false); }

// xlateIn's status for a hit on the fast path, so that batch callers count hits in locals.
const ST_FAST_I: u32 = 8;
const ST_FAST_D: u32 = 9;

/**
 * Translates va for the given access into the r* globals, for paging mode M (a constant at
 * every call site, so each mode gets its own copy). Returns ST_OK, ST_PF, ST_GP, or
 * ST_FAST_I/ST_FAST_D for a first-level hit that the caller must count (countFastHits).
 * FAST: probe the first-level 4 KiB structure (false: the caller just did).
 */
@inline function xlateIn(va: u64, access: u32, M: u32, FAST: bool): u32 {
  if (M == MODE_OFF) {
    rStatus = ST_OK; rError = 0; rPa = va & 0xFFFFFFFF; rLeaf = 0;
    rShift = 12; rLevel = 0; rMemRefs = 0; rRights = RIGHT_W | RIGHT_U; rHitEntry = 0;
    return ST_OK;
  }
  if (M < MODE_4L) {
    va &= 0xFFFFFFFF;
  } else {
    const s: u64 = M == MODE_5L ? 7 : 16;
    if (<u64>((<i64>(va << s)) >> s) != va) {
      rStatus = ST_GP;
      rError = 0;
      rHitEntry = 0;
      if (!(access & ACC_PROBE)) statAdd(STAT_GP_FAULTS, 1);
      return ST_GP;
    }
  }
  rError = 0;
  const probeOnly = (access & ACC_PROBE) != 0;
  if (!probeOnly) {
    if (FAST) {
      const e = fastHit(va, access);
      if (e) {
        rStatus = ST_OK; rPa = hitPa4K(e, va); rHitEntry = e;
        return (access & ACC_FETCH) ? ST_FAST_I : ST_FAST_D;
      }
    }
    if (tlbOn) {
      const e = tlbLookup(va, access);
      if (e) {
        statAdd(STAT_TLB_HITS, 1);
        // The entry covers its structure's unit: a whole large page, or a 4 KiB slice of one.
        rStatus = ST_OK; rHitEntry = e;
        rPa = (eFrame(e) << 12) | (va & ((<u64>1 << kindShift(sKind(hitStruct))) - 1));
        return ST_OK;
      }
      statAdd(STAT_TLB_MISSES, 1);
    }
  }
  const st = M == MODE_32 ? walk32(va, access) : M == MODE_PAE ? walkPae(va, access) : M == MODE_4L ? walk4(va, access) : walk5(va, access);
  // A page fault invalidates the TLB entries for the page and the paging-structure-cache
  // entries that would translate va, so a retried access sees memory (SDM 4.10.4.1).
  if (st == ST_PF && !probeOnly) faultInvalidate(va);
  return st;
}

/** xlateIn for the current mode, fast hits counted as pending: ST_OK, ST_PF or ST_GP. */
function xlateNoFlush(va: u64, access: u32): u32 {
  const m = mode;
  let st: u32;
  if (m == MODE_4L) st = xlateIn(va, access, MODE_4L, true);
  else if (m == MODE_5L) st = xlateIn(va, access, MODE_5L, true);
  else if (m == MODE_PAE) st = xlateIn(va, access, MODE_PAE, true);
  else if (m == MODE_32) st = xlateIn(va, access, MODE_32, true);
  else st = xlateIn(va, access, MODE_OFF, true);
  if (st >= ST_FAST_I) {
    if (st == ST_FAST_I) nHitsI++; else nHitsD++;
    st = ST_OK;
  }
  return st;
}

/** xlateIn for the current mode, every counter added: ST_OK, ST_PF or ST_GP. */
function xlate(va: u64, access: u32): u32 {
  const st = xlateNoFlush(va, access);
  flushCounters();
  return st;
}

/** Translates va for the given access and writes the result block (RES_*). */
export function translate(va: u64, access: u32): u32 {
  const st = xlate(va, access);
  writeResult();
  return st;
}

/** translate() with the address as two u32 halves: no BigInt on the JS side. */
export function translate2(vaLo: u32, vaHi: u32, access: u32): u32 {
  return translate((<u64>vaHi << 32) | vaLo, access);
}

/**
 * The per-address call without BigInt: the physical address (exact in an f64: at most 52
 * bits) or -1 if the access faults, whose fault is then in the result block. A successful
 * translation leaves the result block as it was.
 */
export function translatePa(vaLo: u32, vaHi: u32, access: u32): f64 {
  if (xlateNoFlush((<u64>vaHi << 32) | vaLo, access) == ST_OK) return <f64>rPa;
  writeResult();
  return -1;
}

/** True if va is canonical in paging mode M (a constant); any 32-bit value in the 32-bit modes. */
@inline function canonicalIn(va: u64, M: u32): bool {
  if (M < MODE_4L) return (va >> 32) == 0;
  const s: u64 = M == MODE_5L ? 7 : 16;
  return <u64>((<i64>(va << s)) >> s) == va;
}

/**
 * The batch loop for paging mode M (constant). ACCS: per-address access bytes; otherwise
 * `access` for all, and the first-level structure, key and ALLOW bit are read once.
 */
@inline function batchIn(vas: usize, accs: usize, pas: usize, start: u32, count: u32, access: u32, M: u32, ACCS: bool): u32 {
  let hitsI: u64 = 0, hitsD: u64 = 0;
  const fetch0 = (access & ACC_FETCH) != 0;
  const base0 = fetch0 ? primIBase : primDBase;
  const sets0 = fetch0 ? primISets : primDSets;
  const ways0 = fetch0 ? primIWays : primDWays;
  const s0 = fetch0 ? primI : primD;
  const key0 = ctxKey();
  const allow0 = allowMask(access);
  const fast0 = base0 != 0 && !(access & ACC_PROBE) && M != MODE_OFF;
  let i = start;
  for (; i < count; i++) {
    const a = ACCS ? <u32>load<u8>(accs + i) : access;
    const va = load<u64>(vas + <usize>i * 8);
    if (!ACCS && fast0 && canonicalIn(va, M)) {
      const e = hitProbe(va, base0, sets0, ways0, s0, key0, allow0);
      if (e) {
        store<u64>(pas + <usize>i * 8, hitPa4K(e, va));
        if (fetch0) hitsI++; else hitsD++;
        continue;
      }
    }
    const st = xlateIn(va, a, M, ACCS);
    if (st == ST_FAST_D) hitsD++;
    else if (st == ST_FAST_I) hitsI++;
    else if (st != ST_OK) { writeResult(); break; }
    store<u64>(pas + <usize>i * 8, rPa);
  }
  nHitsI += hitsI;
  nHitsD += hitsD;
  flushCounters();
  return i;
}

/**
 * Translates count addresses from the batch block: va u64 at vas + 8i, access byte at
 * accs + i (or `access` for all if accs is 0), physical address written to pas + 8i. Stops at
 * the first access that does not translate and returns its index (count if all did); that
 * access's fault is in the result block. One boundary crossing per batch.
 */
export function translateBatch(vas: usize, accs: usize, pas: usize, start: u32, count: u32, access: u32): u32 {
  const m = mode;
  if (accs) {
    if (m == MODE_4L) return batchIn(vas, accs, pas, start, count, 0, MODE_4L, true);
    if (m == MODE_5L) return batchIn(vas, accs, pas, start, count, 0, MODE_5L, true);
    if (m == MODE_PAE) return batchIn(vas, accs, pas, start, count, 0, MODE_PAE, true);
    if (m == MODE_32) return batchIn(vas, accs, pas, start, count, 0, MODE_32, true);
    return batchIn(vas, accs, pas, start, count, 0, MODE_OFF, true);
  }
  if (m == MODE_4L) return batchIn(vas, 0, pas, start, count, access, MODE_4L, false);
  if (m == MODE_5L) return batchIn(vas, 0, pas, start, count, access, MODE_5L, false);
  if (m == MODE_PAE) return batchIn(vas, 0, pas, start, count, access, MODE_PAE, false);
  if (m == MODE_32) return batchIn(vas, 0, pas, start, count, access, MODE_32, false);
  return batchIn(vas, 0, pas, start, count, access, MODE_OFF, false);
}
