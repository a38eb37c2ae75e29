// The page walk: one loop for every paging mode, driven by the geometry in state.ts and
// generic over the entry type (u32 for 32-bit paging, u64 otherwise). SDM Vol. 3A 4.3-4.7.
//
// Rights accumulate as in QEMU's mmu_translate: R/W and U/S are ANDed over the levels, XD is
// ORed; the fault is decided once, after the leaf. Nothing is written unless the access is
// allowed: then Accessed is set in every entry used and Dirty in the leaf on a write.

import {
  ACC_AC, ACC_FETCH, ACC_PROBE, ACC_USER, ACC_WRITE, MODE_32, MODE_4L, MODE_5L, MODE_OFF, MODE_PAE,
  PF_ID, PF_P, PF_PK, PF_RSVD, PF_US, PF_WR, PTE_A, PTE_D, PTE_G, PTE_P, PTE_PK_SHIFT, PTE_PS,
  PTE_RW, PTE_US, PTE_XD, ST_GP, ST_OK, ST_PF,
} from "./x86";
import {
  RES_ERROR, RES_HIT, RES_LEAF, RES_LEVEL, RES_MEMREFS, RES_PA, RES_RIGHTS, RES_SHIFT, RES_STATUS,
  RIGHT_G, RIGHT_U, RIGHT_W, RIGHT_XD, STAT_A_WRITES, STAT_D_WRITES, STAT_GP_FAULTS,
  STAT_PAGE_FAULTS, STAT_WALKS, STAT_WALK_MEMREFS, bits, ctrlBase, geoMask, geoRsvdLarge,
  geoRsvdTable, geoShift, largeAllowed, mode, nxe, pdpte, physAddrBits, pke, pkru, ramBase,
  ramSize, root, smap, smep, statAdd, topLevel, wp, pge, pcide, cr3,
} from "./state";
import {
  ALLOW_KINDS, KIND_1G, curPcid, STAT_STRUCT, invalidatePage, invalidate, flushStat, FLUSH_INVLPG,
  FLUSH_INVPCID, FLUSH_FAULT, W1_VALID, tlbSetContext, KIND_4K, KIND_LARGE, KIND_PWC, SIDE_D, SIDE_I, STAT_TLB_HITS,
  STAT_TLB_MISSES, W1_GLOBAL, W3_DIRTY, accessIndex, accessOfIndex, entryFrame, fill,
  largeShift, probe, pwcOn, sKind, sLevel, sSetsMask, sSides, statStruct, structCount, tagOf,
  tlbOn, touch, vaMask, victim, sBase, sWays, pwcStruct, primIBase, primISets, primIWays, primI,
  primDBase, primDSets, primDWays, primD, W1_TAGHI, tlbStruct,
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

/** Error-code bits that describe the access itself (W/R, U/S, I/D). */
@inline function accessBits(access: u32): u32 {
  let ec: u32 = 0;
  if (access & ACC_WRITE) ec |= PF_WR;
  if (access & ACC_USER) ec |= PF_US;
  // I/D is reported only when execute rights are enforced: SMEP, or PAE-style paging with NXE.
  if ((access & ACC_FETCH) && (smep || nxe)) ec |= PF_ID;
  return ec;
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
 * Access-rights check of SDM 4.6 on the accumulated rights. Returns 0 if allowed, else the
 * error code of the protection fault (P=1, and PK where a protection key forbids the access).
 */
@inline function rightsFault(rights: u32, leaf: u64, access: u32): u32 {
  const user = (access & ACC_USER) != 0;
  const write = (access & ACC_WRITE) != 0;
  const fetch = (access & ACC_FETCH) != 0;
  const userAddr = (rights & RIGHT_U) != 0;
  const writable = (rights & RIGHT_W) != 0;
  let denied = false;
  if (user) {
    denied = !userAddr || (write && !writable) || (fetch && (rights & RIGHT_XD) != 0);
  } else if (fetch) {
    denied = (userAddr && smep) || (rights & RIGHT_XD) != 0;
  } else {
    denied = (userAddr && smap && !(access & ACC_AC)) || (write && wp && !writable);
  }
  // Protection keys: data accesses to user-mode addresses, in IA-32e paging with CR4.PKE.
  let pk: u32 = 0;
  if (pke && userAddr && !fetch) {
    const key = <u32>((leaf >> PTE_PK_SHIFT) & 15);
    const ad = (pkru >> (2 * key)) & 1;
    const wd = (pkru >> (2 * key + 1)) & 1;
    if (ad || (wd && write && (user || wp))) pk = PF_PK;
  }
  if (!denied && !pk) return 0;
  return PF_P | pk | accessBits(access);
}

// ALLOW bits by cached rights (RIGHT_W | RIGHT_U | RIGHT_XD, plus 8 if dirty), and the data
// accesses to user pages that each protection key's PKRU bits deny; both follow the registers
// (refreshed by rederiveAllow()).
const allowByRights = memory.data(16 * 4);
const pkDeny = memory.data(16 * 4);

let allowKey: u64 = <u64>-1; // the registers the tables were computed for

/** Recomputes the two tables from rightsFault() under the current registers. */
function computeAllowTables(): void {
  allowKey = (<u64>pkru << 8) | (wp ? 1 : 0) | (smep ? 2 : 0) | (smap ? 4 : 0) | (nxe ? 8 : 0) | (pke ? 16 : 0);
  for (let r: u32 = 0; r < 16; r++) {
    let allow: u32 = 0;
    for (let i: u32 = 0; i < ALLOW_KINDS; i++) {
      const access = accessOfIndex(i);
      if ((access & ACC_WRITE) && !(r & 8)) continue; // a clean page walks on its first write
      if (rightsFault(r & 7, 0, access) == 0) allow |= 1 << i;
    }
    store<u32>(allowByRights + <usize>r * 4, allow);
  }
  for (let k: u32 = 0; k < 16; k++) {
    let deny: u32 = 0;
    if (pke) {
      for (let i: u32 = 0; i < ALLOW_KINDS; i++) {
        // rightsFault of a user, writable, dirty page with key k: only the key can deny.
        if (rightsFault(RIGHT_W | RIGHT_U, <u64>k << PTE_PK_SHIFT, accessOfIndex(i)) & PF_PK) deny |= 1 << i;
      }
    }
    store<u32>(pkDeny + <usize>k * 4, deny);
  }
}

/** ALLOW bits of a TLB entry: the accesses its cached rights permit without a walk. */
@inline function allowBits(rights: u32, pk: u32, dirty: bool): u32 {
  const allow = load<u32>(allowByRights + <usize>((rights & 7) | (dirty ? 8 : 0)) * 4);
  return (rights & RIGHT_U) ? allow & ~load<u32>(pkDeny + <usize>pk * 4) : allow;
}

/** Page shift of a structure kind in the current mode. */
@inline function kindShift(kind: u32): u64 {
  if (kind == KIND_4K) return 12;
  if (kind == KIND_LARGE) return largeShift;
  if (kind == KIND_1G) return 30;
  return geoShift(kind - KIND_PWC + 2);
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
  if (tlbOn) tlbFill(va, access, entry, level, rights);
  return ST_OK;
}

/** Caches a non-leaf entry of level l (its table address and the rights down to it). */
function pwcFill(va: u64, l: u32, table: u64, rights: u32): void {
  const si = pwcStruct(l);
  if (si < 0) return;
  const s = <u32>si;
  const tag = tagOf(va, KIND_PWC, geoShift(l), vaMask);
  fill(s, victim(s, <u32>tag & sSetsMask(s), tag), tag, false, table >> 12, rights << 20);
}

/**
 * Caches a translation in the TLB structures of the access's side (instruction fetches: I;
 * data: D), at both levels. A page size with no structure of its own there is held as 4 KiB
 * slices in the 4 KiB structure (as spike's fake leaves, and as CPUs fracture pages).
 */
function tlbFill(va: u64, access: u32, leaf: u64, level: u32, rights: u32): void {
  const sideIdx: u32 = (access & ACC_FETCH) ? 0 : 1;
  const size: u32 = level - 1; // KIND_4K, KIND_LARGE or KIND_1G
  const global = pge && (rights & RIGHT_G) != 0;
  const pk = pke ? <u32>(leaf >> PTE_PK_SHIFT) & 15 : 0;
  const dirty = (leaf & PTE_D) != 0 || (access & ACC_WRITE) != 0;
  const w3 = allowBits(rights & 7, pk, dirty) | (pk << 16) | ((rights & 7) << 20) | (dirty ? W3_DIRTY : 0) | (size << 24);
  const pa = rPa;
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
function tlbLookup(va: u64, access: u32): usize {
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
      if (e && (load<u32>(e, 12) & allow)) {
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
  const frame = entryFrame(e) + (((va & vaMask) >> 12) & ((<u64>1 << (kindShift(fromKind) - sh)) - 1));
  fill(s, victim(s, set, tag), tag, (load<u32>(e, 4) & W1_GLOBAL) != 0, frame, load<u32>(e, 12) & ~0xFF00);
}

let hitStruct: u32 = 0;

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

/** Invalidations a page fault at va makes. */
function faultInvalidate(va: u64): void {
  flushStat(FLUSH_FAULT);
  if (tlbOn) invalidatePage((va & vaMask) >> 12, curPcid, true);
  if (!pwcOn) return;
  for (let l: u32 = 2; l <= topLevel; l++) {
    const si = pwcStruct(l);
    if (si < 0) continue;
    const tag = tagOf(va, KIND_PWC, geoShift(l), vaMask);
    const e = probe(<u32>si, <u32>tag & sSetsMask(<u32>si), tag);
    if (e) store<u32>(e, 0, 4);
  }
}

/** True if va is canonical for the current mode (always in the 32-bit modes) and paging is on. */
@inline function canonical(va: u64): bool {
  const m = mode;
  if (m < MODE_4L) return m != MODE_OFF && (va >> 32) == 0;
  const s: u64 = m == MODE_5L ? 7 : 16;
  return <u64>((<i64>(va << s)) >> s) == va;
}

let hitPa: u64 = 0;
let hitEntry: usize = 0;

/**
 * The hit path: probes the first-level 4 KiB structure of the access's side. On a hit sets
 * hitPa / hitEntry, counts the hit and returns true; anything else goes the general way.
 */
@inline function fastHit(va: u64, access: u32): bool {
  const fetch = (access & ACC_FETCH) != 0;
  const base = fetch ? primIBase : primDBase;
  if (!base) return false;
  const vpn = (va & vaMask) >> 12;
  const ways = fetch ? primIWays : primDWays;
  const set = <u32>vpn & (fetch ? primISets : primDSets);
  let e = base + (<usize>(set * ways) << 4);
  const lo = <u32>vpn;
  const hi = W1_VALID | <u32>(vpn >> 32);
  const allow: u32 = 1 << accessIndex(access);
  for (let w: u32 = 0; w < ways; w++, e += 16) {
    if (load<u32>(e) != lo) continue;
    const w1 = load<u32>(e, 4);
    if ((w1 & (W1_VALID | W1_TAGHI)) != hi) continue;
    if (!(w1 & W1_GLOBAL) && ((w1 >> 16) & 0xFFF) != curPcid) continue;
    if (!(load<u32>(e, 12) & allow)) return false;
    hitPa = (entryFrame(e) << 12) | (va & 0xFFF);
    hitEntry = e;
    if (ways > 1) touch(fetch ? primI : primD, e);
    return true;
  }
  return false;
}

/** Counts n hits of fastHit() in the primary structure of a side (callers batch them). */
@inline function countFastHits(fetch: bool, n: u64): void {
  if (n == 0) return;
  statAdd(STAT_STRUCT + <usize>(fetch ? primI : primD) * 2, n);
  statAdd(STAT_TLB_HITS, n);
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

/** Points the TLBs at the current mode and PCID (after setControl). */
export function syncContext(): void {
  const m = mode;
  const mask: u64 = m == MODE_5L ? bits(56, 0) : m == MODE_4L ? bits(47, 0) : 0xFFFFFFFF;
  tlbSetContext(pcide ? <u32>(cr3 & 0xFFF) : 0, m == MODE_32 ? 22 : 21, mask);
  const key = (<u64>pkru << 8) | (wp ? 1 : 0) | (smep ? 2 : 0) | (smap ? 4 : 0) | (nxe ? 8 : 0) | (pke ? 16 : 0);
  if (key != allowKey) computeAllowTables();
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
      const w3 = load<u32>(e, 12);
      store<u32>(e, (w3 & ~0xFF) | allowBits((w3 >> 20) & 7, (w3 >> 16) & 15, (w3 & W3_DIRTY) != 0), 12);
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
