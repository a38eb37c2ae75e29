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
  STAT_PAGE_FAULTS, STAT_WALKS, STAT_WALK_MEMREFS, bits, ctrlBase, geoMask, geoRsvdLarge,
  geoRsvdTable, geoShift, largeAllowed, mode, nxe, pdpte, physAddrBits, ramBase, ramSize, root,
  statAdd, topLevel, pge,
} from "./state";
import { accessBits, rightsFault } from "./rights";
import {
  KIND_PWC, STAT_TLB_HITS, STAT_TLB_MISSES, W1_GLOBAL, countFastHits, entryFrame, fastHit,
  faultInvalidate, hitEntry, hitPa, hitStruct, kindShift, probe, pwcFill, pwcOn, pwcStruct, sKind,
  sSetsMask, tagOf, tlbFill, tlbLookup, tlbOn, touch, vaMask, statStruct, largeShift,
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
    const w3 = load<u32>(rHitEntry, 12);
    const size = (w3 >> 24) & 3;
    rShift = size == 0 ? 12 : size == 1 ? <u32>largeShift : 30;
    rLevel = size + 1;
    rRights = ((w3 >> 20) & 7) | ((load<u32>(rHitEntry, 4) & W1_GLOBAL) ? RIGHT_G : 0);
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

@inline function pageFault(errorCode: u32, level: u32, memRefs: u32, access: u32): u32 {
  rStatus = ST_PF;
  rError = errorCode;
  rLevel = level;
  rMemRefs = memRefs;
  rHitEntry = 0;
  if (!(access & ACC_PROBE)) {
    statAdd(STAT_WALKS, 1);
    statAdd(STAT_WALK_MEMREFS, memRefs);
    statAdd(STAT_PAGE_FAULTS, 1);
  }
  return ST_PF;
}

/**
 * Walks the tables for linear address va. Writes the result block and returns ST_OK or ST_PF.
 * The caller has checked canonicality and that paging is on.
 */
export function walk<E>(va: u64, access: u32): u32 {
  let level = topLevel;
  let table = root;
  let memRefs: u32 = 0;
  let andBits: u64 = PTE_RW | PTE_US; // AND of R/W and U/S over the levels
  let andA: u64 = PTE_A; //              AND of the Accessed flags read
  let orXd: u64 = 0; //                  OR of XD over the levels
  if (sizeof<E>() == 8 && mode == MODE_PAE) {
    // The PDPTE comes from the registers loaded at MOV CR3: no memory read, no rights.
    const e = load<u64>(pdpte + <usize>((va >> 30) & 3) * 8);
    if (!(e & PTE_P)) return pageFault(accessBits(access), 3, 0, access);
    table = e & bits(51, 12);
  }
  // Paging-structure caches: start below the deepest cached entry for va (SDM 4.10.3.2).
  let startLevel = level;
  if (pwcOn && !(access & ACC_PROBE)) {
    for (let l: u32 = 2; l <= topLevel; l++) {
      const si = pwcStruct(l);
      if (si < 0) continue;
      const s = <u32>si;
      const tag = tagOf(va, KIND_PWC, geoShift(l), vaMask);
      const e = probe(s, <u32>tag & sSetsMask(s), tag);
      statStruct(s, e != 0);
      if (e) {
        touch(s, e);
        const w3 = load<u32>(e, 12);
        andBits = <u64>((w3 >> 20) & 3) << 1; // R/W, U/S as entry bits 1 and 2
        orXd = (w3 & (1 << 22)) ? PTE_XD : 0;
        table = entryFrame(e) << 12;
        level = l - 1;
        startLevel = level;
        break;
      }
    }
  }
  let entry: u64 = 0;
  let shift: u64 = 0;
  while (true) {
    shift = geoShift(level);
    const pa = table + ((va >> shift) & geoMask(level)) * sizeof<E>();
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
    store<u32>(walkRights + <usize>level * 4, <u32>(andBits & (PTE_RW | PTE_US)) >> 1 | ((orXd & PTE_XD) ? RIGHT_XD : 0));
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
  rError = 0;
  rPa = leafBase<E>(entry, level, shift) | (va & ((<u64>1 << shift) - 1));
  rLeaf = entry;
  rShift = <u32>shift;
  rLevel = level;
  rMemRefs = memRefs;
  rRights = rights;
  rHitEntry = 0;
  if (access & ACC_PROBE) return ST_OK;

  statAdd(STAT_WALKS, 1);
  statAdd(STAT_WALK_MEMREFS, memRefs);
  // Accessed in every entry used (top down, as the walk read them); Dirty in the leaf. Most
  // walks find them set already: then only the paging-structure caches are filled.
  const needD = (access & ACC_WRITE) != 0 && !(entry & PTE_D);
  if (!(andA & PTE_A) || needD || pwcOn) {
    let aWrites: u64 = 0;
    for (let l = startLevel; l >= level; l--) {
      const pa = load<u64>(walkEntryPA + <usize>l * 8);
      let set: u64 = 0;
      const e = l == level ? entry : readEntry<E>(pa);
      if (!(e & PTE_A)) { set = PTE_A; aWrites++; }
      if (l == level && needD) { set |= PTE_D; statAdd(STAT_D_WRITES, 1); }
      if (set) setEntryBits<E>(pa, set);
      if (l > level && pwcOn) pwcFill(va, l, tableAddr<E>(e), load<u32>(walkRights + <usize>l * 4));
    }
    if (aWrites) statAdd(STAT_A_WRITES, aWrites);
  }
  if (tlbOn) tlbFill(va, access, entry, level, rights, rPa);
  return ST_OK;
}

/** Translates va for the given access into the r* globals; see walk(). */
function xlate(va: u64, access: u32): u32 {
  const m = mode;
  rHitEntry = 0;
  if (m == MODE_OFF) {
    rStatus = ST_OK; rError = 0; rPa = va & 0xFFFFFFFF; rLeaf = 0;
    rShift = 12; rLevel = 0; rMemRefs = 0; rRights = RIGHT_W | RIGHT_U;
    return ST_OK;
  }
  if (m < MODE_4L) {
    va &= 0xFFFFFFFF;
  } else if (!canonical(va)) {
    rStatus = ST_GP;
    rError = 0;
    if (!(access & ACC_PROBE)) statAdd(STAT_GP_FAULTS, 1);
    return ST_GP;
  }
  const probeOnly = (access & ACC_PROBE) != 0;
  if (!probeOnly && fastHit(va, access)) {
    countFastHits((access & ACC_FETCH) != 0, 1);
    rStatus = ST_OK; rError = 0; rPa = hitPa; rHitEntry = hitEntry;
    return ST_OK;
  }
  if (tlbOn && !probeOnly) {
    const e = tlbLookup(va, access);
    if (e) {
      statAdd(STAT_TLB_HITS, 1);
      // The entry covers its structure's unit: a whole large page, or a 4 KiB slice of one.
      rStatus = ST_OK; rError = 0; rHitEntry = e;
      rPa = (entryFrame(e) << 12) | (va & ((<u64>1 << kindShift(sKind(hitStruct))) - 1));
      return ST_OK;
    }
    statAdd(STAT_TLB_MISSES, 1);
  }
  const st = m == MODE_32 ? walk<u32>(va, access) : walk<u64>(va, access);
  // A page fault invalidates the TLB entries for the page and the paging-structure-cache
  // entries that would translate va, so a retried access sees memory (SDM 4.10.4.1).
  if (st == ST_PF && !probeOnly) faultInvalidate(va);
  return st;
}

/** Translates va for the given access and writes the result block (RES_*). */
export function translate(va: u64, access: u32): u32 {
  const st = xlate(va, access);
  writeResult();
  return st;
}

/** True if va is canonical for the current mode (always in the 32-bit modes) and paging is on. */
@inline function canonical(va: u64): bool {
  const m = mode;
  if (m < MODE_4L) return m != MODE_OFF && (va >> 32) == 0;
  const s: u64 = m == MODE_5L ? 7 : 16;
  return <u64>((<i64>(va << s)) >> s) == va;
}

/** translate() with the address as two u32 halves: no BigInt on the JS side. */
export function translate2(vaLo: u32, vaHi: u32, access: u32): u32 {
  return translate((<u64>vaHi << 32) | vaLo, access);
}

/**
 * Translates count addresses from the batch block: va u64 at vas + 8i, access byte at
 * accs + i (or `access` for all if accs is 0), physical address written to pas + 8i. Stops at
 * the first access that does not translate and returns its index (count if all did); that
 * access's fault is in the result block. One boundary crossing per batch.
 */
export function translateBatch(vas: usize, accs: usize, pas: usize, start: u32, count: u32, access: u32): u32 {
  // Hits skip the result block and are counted once per batch (the tag drops the
  // sign-extension bits, so only canonical addresses may take this path).
  let hitsI: u64 = 0, hitsD: u64 = 0;
  let i = start;
  for (; i < count; i++) {
    const a = accs ? <u32>load<u8>(accs + i) : access;
    const va = load<u64>(vas + <usize>i * 8);
    if (canonical(va) && (a & ACC_PROBE) == 0 && fastHit(va, a)) {
      store<u64>(pas + <usize>i * 8, hitPa);
      if (a & ACC_FETCH) hitsI++; else hitsD++;
      continue;
    }
    if (xlate(va, a) != ST_OK) { writeResult(); break; }
    store<u64>(pas + <usize>i * 8, rPa);
  }
  countFastHits(true, hitsI);
  countFastHits(false, hitsD);
  return i;
}
