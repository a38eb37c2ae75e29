// Access rights, table-driven, per paging mode. Expected outcomes come from sdmOutcome() below,
// written from the Intel SDM Vol. 3A text (4.6 access rights, 4.6.2 protection keys, 4.7
// page-fault error code, 4.5/4.4 reserved XD bit), never from the walker's code.
//
// Every combination of: U/S, R/W and XD in the leaf and (independently) in one non-leaf entry,
// rotating over the non-leaf levels; EFER.NXE; CR0.WP; CR4.SMEP; CR4.SMAP with EFLAGS.AC;
// CR4.PKE with PKRU.AD/WD for the leaf's key (other keys get the opposite bits); user or
// supervisor; read, write or fetch.
import { describe, expect, it } from "vitest";
import type { Machine } from "../src/index.js";
import { A, D, MODES, P, RW, US, XD, pagedMachine, type Mode } from "./paging.js";

interface Env {
  mode: Mode;
  nxe: boolean;
  wp: boolean;
  smep: boolean;
  smap: boolean;
  pke: boolean;
  pkru: number;
}
interface Access {
  user: boolean;
  kind: "read" | "write" | "fetch";
  ac: boolean;
}
type Outcome = { ok: true } | { ok: false; errorCode: number; level: number };

/**
 * The SDM's rules. `entries` are the paging-structure entries the walk uses, top level first
 * (PAE's PDPTE register excluded: it carries no rights), with their levels.
 */
function sdmOutcome(env: Env, entries: Array<{ level: number; e: bigint }>, acc: Access): Outcome {
  const ia32e = env.mode === "4-level" || env.mode === "5-level";
  // 4.1.1/4.5: XD exists in PAE and IA-32e entries; it is honoured when IA32_EFER.NXE = 1.
  const paeStyle = env.mode !== "32-bit";
  const executeDisableOn = paeStyle && env.nxe;
  const write = acc.kind === "write";
  const fetch = acc.kind === "fetch";

  // 4.7 error code: W/R = write, U/S = user-mode access (CPL 3), I/D = instruction fetch, but
  // I/D only if CR4.SMEP = 1 or (CR4.PAE = 1 and IA32_EFER.NXE = 1).
  const accessCode =
    (write ? 2 : 0) | (acc.user ? 4 : 0) | (fetch && (env.smep || executeDisableOn) ? 16 : 0);

  // 4.4.2/4.5: with NXE = 0, bit 63 is reserved in every PAE/IA-32e entry: the walk stops at
  // the first (highest) entry that sets it, with P = 1 and RSVD = 1.
  for (const { level, e } of entries) {
    if (paeStyle && !env.nxe && (e & XD) !== 0n) return { ok: false, errorCode: 1 | 8 | accessCode, level };
  }
  const leafLevel = entries[entries.length - 1]!.level;

  // 4.6: a user-mode address has U/S = 1 in every entry, else it is a supervisor-mode address;
  // writable needs R/W = 1 in every entry; XD = 1 in any entry forbids fetches (NXE = 1).
  const userAddress = entries.every(({ e }) => (e & US) !== 0n);
  const writableEverywhere = entries.every(({ e }) => (e & RW) !== 0n);
  const executeDisabled = executeDisableOn && entries.some(({ e }) => (e & XD) !== 0n);

  let allowed: boolean;
  if (!acc.user) {
    // Supervisor-mode accesses (CPL < 3), all explicit here.
    if (acc.kind === "read") {
      // Any supervisor-mode address; a user-mode address unless SMAP = 1 and AC = 0.
      allowed = !userAddress || !env.smap || acc.ac;
    } else if (write) {
      // Supervisor-mode address: WP = 0 any; WP = 1 only writable ones. User-mode address:
      // with SMAP = 1 and AC = 0 none; otherwise the same WP rule.
      const wpAllows = !env.wp || writableEverywhere;
      allowed = userAddress ? (!env.smap || acc.ac) && wpAllows : wpAllows;
    } else {
      // Fetches: from a user-mode address never with SMEP = 1; XD forbids with NXE = 1.
      allowed = !(userAddress && env.smep) && !executeDisabled;
    }
  } else {
    // User-mode accesses (CPL = 3): only user-mode addresses; writes need R/W = 1 everywhere
    // (CR0.WP does not matter); fetches need XD = 0 everywhere (with NXE = 1).
    if (acc.kind === "read") allowed = userAddress;
    else if (write) allowed = userAddress && writableEverywhere;
    else allowed = userAddress && !executeDisabled;
  }

  // 4.6.2 and 4.7 (PK flag): with IA32_EFER.LMA = CR4.PKE = 1, a data access to a user-mode
  // address with key i is refused if AD_i = 1, or if WD_i = 1 for a write that is a user-mode
  // access or made with CR0.WP = 1. The PK flag is set whenever these hold.
  let pk = false;
  if (ia32e && env.pke && userAddress && !fetch) {
    const key = Number((entries[entries.length - 1]!.e >> 59n) & 15n);
    const ad = (env.pkru >>> (2 * key)) & 1;
    const wd = (env.pkru >>> (2 * key + 1)) & 1;
    pk = ad === 1 || (wd === 1 && write && (acc.user || env.wp));
  }
  if (allowed && !pk) return { ok: true };
  return { ok: false, errorCode: 1 | accessCode | (pk ? 32 : 0), level: leafLevel };
}

const VA: Record<Mode, bigint> = {
  "32-bit": 0x4020_3000n,
  pae: 0xc060_5000n,
  "4-level": 0x0000_7f12_3456_7000n,
  "5-level": 0xff12_3456_789a_b000n,
};
const FRAME = 0x0030_0000n; // the data page's physical address

const bools = [false, true] as const;
const KINDS = ["read", "write", "fetch"] as const;
const ACCESSES: Access[] = bools.flatMap((user) => bools.flatMap((ac) => KINDS.map((kind) => ({ user, kind, ac }))));

/** One combination of entry bits and control registers. */
interface Combo {
  env: Env;
  upLevel: number;
  key: number;
  entries: Array<{ level: number; e: bigint }>;
  desc: string;
}

/**
 * Every combination of U/S, R/W, XD (leaf and one non-leaf level) and NXE, WP, SMEP, SMAP, PKE,
 * AD/WD. The non-leaf level carrying the "up" bits rotates over all non-leaf levels; the leaf's
 * protection key rotates over 0..15 (4/5-level only: bits 62:59 are reserved in PAE entries).
 */
function* combos(mode: Mode, levels: number, tables: bigint[]): Generator<Combo> {
  const ia32e = mode === "4-level" || mode === "5-level";
  const xdChoices = mode === "32-bit" ? [false] : bools;
  const flags = (us: boolean, rw: boolean, xd: boolean) => P | A | (us ? US : 0n) | (rw ? RW : 0n) | (xd ? XD : 0n);
  let n = 0;
  for (const usLeaf of bools) for (const usUp of bools) for (const rwLeaf of bools) for (const rwUp of bools)
  for (const xdLeaf of xdChoices) for (const xdUp of xdChoices)
  for (const nxe of bools) for (const wp of bools) for (const smep of bools) for (const smap of bools)
  for (const pke of bools) for (const ad of bools) for (const wd of bools) {
    n++;
    const upLevel = 2 + (n % (levels - 1));
    const key = ia32e ? n % 16 : 0;
    const entries: Array<{ level: number; e: bigint }> = [];
    for (let level = levels; level >= 1; level--) {
      let e: bigint;
      if (level === 1) e = FRAME | flags(usLeaf, rwLeaf, xdLeaf) | (BigInt(key) << 59n);
      else if (level === upLevel) e = tables[level]! | flags(usUp, rwUp, xdUp);
      else e = tables[level]! | flags(true, true, false);
      entries.push({ level, e });
    }
    // PKRU: AD/WD of the leaf's key as chosen, the opposite for every other key.
    let pkru = 0;
    for (let k = 0; k < 16; k++) {
      pkru |= ((k === key ? ad : !ad) ? 1 : 0) << (2 * k);
      pkru |= ((k === key ? wd : !wd) ? 1 : 0) << (2 * k + 1);
    }
    const desc =
      `us=${+usUp}/${+usLeaf} rw=${+rwUp}/${+rwLeaf} xd=${+xdUp}/${+xdLeaf} (up=L${upLevel}/leaf) ` +
      `nxe=${+nxe} wp=${+wp} smep=${+smep} smap=${+smap} pke=${+pke} key=${key} ad=${+ad} wd=${+wd}`;
    yield { env: { mode, nxe, wp, smep, smap, pke, pkru: pkru >>> 0 }, upLevel, key, entries, desc };
  }
}

/** A machine in `mode` with one page mapped, and what combos() needs to rewrite its path. */
async function rightsMachine(mode: Mode) {
  const { m, pt } = await pagedMachine(mode);
  const path = pt.map(VA[mode], FRAME, P | RW | US);
  const levels = pt.geo.levels;
  const tables = path.map((at, level) => (level <= levels ? pt.read(at) & ~0xfffn & ~XD : 0n));
  /** Writes a combination's entries, then its registers (writing CR3 flushes cached translations). */
  const load = (c: Combo) => {
    for (const { level, e } of c.entries) pt.write(path[level]!, e);
    const { nxe, wp, smep, smap, pke, pkru } = c.env;
    const gp = m.setRegisters(pt.registers({ nxe, wp, smep, smap, pke, pkru: BigInt(pkru) }));
    if (gp) throw new Error(`registers refused: ${gp.reason}`);
  };
  const readEntries = () => path.map((at, level) => (level <= levels ? pt.read(at) : 0n));
  return { m, levels, tables, load, readEntries };
}

/** The outcome as text: a translation's pa, or the #PF's error code, level and address. */
function outcomeText(m: Machine, va: bigint, acc: Access): string {
  const got = m.translate(va, { user: acc.user, ac: acc.ac, write: acc.kind === "write", fetch: acc.kind === "fetch" });
  if (!got.fault) return `ok pa=0x${got.pa.toString(16)}`;
  return got.fault === "page" ? `#PF ec=${got.errorCode} level=${got.level} cr2=0x${got.address.toString(16)}` : "#GP";
}
function sdmText(env: Env, c: Combo, va: bigint, acc: Access): string {
  const want = sdmOutcome(env, c.entries, acc);
  return want.ok ? `ok pa=0x${(FRAME + (va & 0xfffn)).toString(16)}` : `#PF ec=${want.errorCode} level=${want.level} cr2=0x${va.toString(16)}`;
}
const accText = (a: Access) => `${a.user ? "user" : "supervisor"} ${a.kind} ac=${+a.ac}`;

describe.each(MODES)("access rights in %s paging", (mode) => {
  it("every combination matches the SDM rules, with the exact error code (a full walk each)", async () => {
    const { m, levels, tables, load } = await rightsMachine(mode);
    const va = VA[mode] + 0x123n;
    const mismatches: string[] = [];
    let cases = 0;
    for (const c of combos(mode, levels, tables)) {
      for (const acc of ACCESSES) {
        cases++;
        load(c);
        const got = outcomeText(m, va, acc), want = sdmText(c.env, c, va, acc);
        if (got !== want) mismatches.push(`${c.desc} ${accText(acc)}: got ${got}, SDM says ${want}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(cases).toBe((mode === "32-bit" ? 1 : 4) * 16 * 16 * 8 * 4 * 3);
  });

  it("the same through cached translations: all twelve accesses in a row after one flush; A/D written only when allowed", async () => {
    const { m, levels, tables, load, readEntries } = await rightsMachine(mode);
    const va = VA[mode] + 0x7f8n;
    const mismatches: string[] = [];
    for (const c of combos(mode, levels, tables)) {
      load(c);
      // Accesses in an order that fills the TLB early (reads first) and then exercises hits.
      for (const acc of [...ACCESSES].sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind))) {
        const before = readEntries();
        const got = outcomeText(m, va, acc), want = sdmText(c.env, c, va, acc);
        if (got !== want) mismatches.push(`${c.desc} ${accText(acc)}: got ${got}, SDM says ${want}`);
        // A is set already in every entry: only a permitted write may change RAM (D in the leaf).
        const after = readEntries();
        const expected = before.map((e, level) => (level === 1 && got.startsWith("ok") && acc.kind === "write" ? e | D : e));
        if (after.some((e, level) => e !== expected[level])) mismatches.push(`${c.desc} ${accText(acc)}: entries changed wrongly`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    // the default TLB answered a part of them (a fault drops the page's entries, so many walk)
    const s = m.stats();
    expect(s.tlbHits).toBeGreaterThan(s.walks / 10);
  });
});

describe.each(["4-level", "5-level"] as const)("protection keys and cached translations in %s paging", (mode) => {
  it("a translation cached while CR4.PKE = 0 is checked with its page's key once PKE is set (MOV CR4 does not flush for PKE)", async () => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(VA[mode], FRAME, P | RW | US | (5n << 59n));
    m.setRegisters({ cr3: pt.root });
    expect(m.translate(VA[mode], { user: true })).toMatchObject({ pa: FRAME }); // cached, key 5
    const r = m.registers();
    // PKE on; PKRU: AD for key 5 only (key 0, what a key-less entry would use, stays open).
    expect(m.setRegisters({ cr4: r.cr4 | (1n << 22n), pkru: 1n << 10n })).toBeNull();
    expect(m.translate(VA[mode], { user: true })).toMatchObject({ fault: "page", errorCode: 0b100101 });
    expect(m.translate(VA[mode], { user: true, write: true })).toMatchObject({ fault: "page", errorCode: 0b100111 });
  });
});
