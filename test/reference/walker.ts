// A slow reference model of x86 linear-address translation, written straight from the Intel SDM
// Vol. 3A chapter 4 (4.1 modes, 4.3 32-bit paging, 4.4 PAE paging, 4.5 4-/5-level paging, 4.6
// access rights, 4.7 page-fault error code, 4.8 accessed and dirty flags) and the MOV-to-CR
// rules of Vol. 2 / Vol. 3A 2.5. It shares nothing with the production walker: every mode is
// spelled out on its own, one level at a time, with BigInt arithmetic over a plain Uint8Array of
// RAM, so that a mistake in the geometry tables of assembly/ cannot be repeated here.
//
// Modelled CPU: MAXPHYADDR as given, 1-GByte pages, PSE-36 (M capped at 40 for 32-bit paging),
// NX, SMEP, SMAP, PKU, PCID, LA57. Implementation choices the SDM leaves open follow the
// package's documented choices: non-existent memory reads as all ones, writes to it are
// dropped; a walk that faults writes nothing; CR4 bits 15 and 25 up are reserved; EFER models
// SCE, LME, LMA (read-only) and NXE.

export interface RefRegisters {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  pkru: bigint;
}

export interface RefAccess {
  write?: boolean;
  user?: boolean;
  fetch?: boolean;
  ac?: boolean;
  probe?: boolean;
}

export type RefResult =
  | {
      fault?: undefined;
      pa: bigint;
      pageSize: number;
      level: number;
      entry: bigint;
      write: boolean;
      user: boolean;
      execute: boolean;
      global: boolean;
      memRefs: number;
    }
  | { fault: "page"; errorCode: number; level: number }
  | { fault: "gp" }
  | { error: "RangeError" | "TypeError" };

const bit = (n: number): bigint => 1n << BigInt(n);
/** Mask of bits hi..lo inclusive (empty when hi < lo). */
const field = (hi: number, lo: number): bigint => (hi < lo ? 0n : ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo));
const has = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;

// Control-register bits (SDM 2.5).
const CR0 = { PE: 0, WP: 16, NW: 29, CD: 30, PG: 31 };
const CR4 = { PSE: 4, PAE: 5, PGE: 7, LA57: 12, PCIDE: 17, SMEP: 20, SMAP: 21, PKE: 22, CET: 23 };
const EFER = { LME: 8, LMA: 10, NXE: 11 };

// Page-fault error code (SDM 4.7, Figure 4-12).
const PF = { P: 1, WR: 2, US: 4, RSVD: 8, ID: 16, PK: 32 };

type Mode = "off" | "32-bit" | "pae" | "4-level" | "5-level";

/** One paging-structure entry the walk used: where it is, its level (1 = PTE), what it held. */
export interface Used {
  pa: bigint;
  bytes: 4 | 8;
  value: bigint;
  level: number;
}

/**
 * Where a walk starts when it does not start at CR3: below a paging-structure-cache entry
 * (SDM 4.10.3), the entries from the top down to `level + 1` as they were when it was cached,
 * and the table the lowest of them references.
 */
export interface WalkStart {
  level: number;
  table: bigint;
  used: Used[];
}

export class RefMachine {
  readonly ram: Uint8Array;
  readonly maxPhyAddr: number;
  regs: RefRegisters = { cr0: 0x10n, cr3: 0n, cr4: 0n, efer: 0n, pkru: 0n };
  /** PAE's four PDPTE registers (SDM 4.4.1), loaded by MOV to CR3 and friends. */
  pdptes: bigint[] = [0n, 0n, 0n, 0n];
  /** Physical addresses of the entries the last translate read (for differential checks). */
  lastUsed: bigint[] = [];

  constructor(ramBytes: number, maxPhyAddr: number) {
    this.ram = new Uint8Array(ramBytes);
    this.maxPhyAddr = maxPhyAddr;
  }

  // ---- physical memory -------------------------------------------------------------------

  /** A little-endian read; bytes with no RAM behind them read as 0xFF. */
  readPhys(pa: bigint, bytes: number): bigint {
    let v = 0n;
    for (let i = bytes - 1; i >= 0; i--) {
      const a = pa + BigInt(i);
      const b = a < BigInt(this.ram.length) ? this.ram[Number(a)]! : 0xff;
      v = (v << 8n) | BigInt(b);
    }
    return v;
  }

  /** A little-endian write; bytes with no RAM behind them are dropped. */
  writePhys(pa: bigint, bytes: number, value: bigint): void {
    for (let i = 0; i < bytes; i++) {
      const a = pa + BigInt(i);
      if (a < BigInt(this.ram.length)) this.ram[Number(a)] = Number((value >> BigInt(8 * i)) & 0xffn);
    }
  }

  // ---- registers ---------------------------------------------------------------------------

  mode(r: RefRegisters = this.regs): Mode {
    // SDM 4.1.1, Table 4-1.
    if (!has(r.cr0, CR0.PG)) return "off";
    if (!has(r.cr4, CR4.PAE)) return "32-bit";
    if (!has(r.efer, EFER.LME)) return "pae";
    return has(r.cr4, CR4.LA57) ? "5-level" : "4-level";
  }

  /**
   * The values given are written together and the resulting state checked as MOV to CR0/CR3/
   * CR4 and WRMSR to EFER check it. Returns "gp" (and changes nothing) where a CPU raises #GP.
   */
  setRegisters(values: Partial<RefRegisters>): "gp" | null {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) continue;
      const bits = k === "pkru" ? 32 : 64;
      if (typeof v !== "bigint") throw new TypeError(k);
      if (v < 0n || v >= 1n << BigInt(bits)) throw new RangeError(k);
    }
    const old = this.regs;
    const n: RefRegisters = { ...old, ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) };
    // CR0: bits 63:32 reserved; PG requires PE; NW requires CD.
    if (n.cr0 >> 32n) return "gp";
    if (has(n.cr0, CR0.PG) && !has(n.cr0, CR0.PE)) return "gp";
    if (has(n.cr0, CR0.NW) && !has(n.cr0, CR0.CD)) return "gp";
    // CR4: bit 15 and bits 63:25 reserved on the modelled CPU.
    if (n.cr4 & (bit(15) | field(63, 25))) return "gp";
    // EFER: only SCE (0), LME (8), LMA (10), NXE (11) exist.
    if (n.efer & ~(bit(0) | bit(8) | bit(10) | bit(11))) return "gp";
    // CET needs CR0.WP: setting CR4.CET with WP = 0, or clearing WP with CET = 1, is #GP.
    if (has(n.cr4, CR4.CET) && !has(n.cr0, CR0.WP)) return "gp";
    // IA-32e mode is active when LME and PG are both 1; LMA reflects it.
    const lma = has(n.cr0, CR0.PG) && has(n.efer, EFER.LME);
    n.efer = lma ? n.efer | bit(EFER.LMA) : n.efer & ~bit(EFER.LMA);
    // Enabling (or staying in) IA-32e mode with CR4.PAE = 0 is #GP.
    if (lma && !has(n.cr4, CR4.PAE)) return "gp";
    // WRMSR to EFER changing LME while paging is on: #GP.
    if (has(old.cr0, CR0.PG) && has(n.cr0, CR0.PG) && has(old.efer, EFER.LME) !== has(n.efer, EFER.LME)) return "gp";
    // MOV to CR4 changing LA57 in IA-32e mode: #GP.
    if (has(old.efer, EFER.LMA) && lma && has(old.cr4, CR4.LA57) !== has(n.cr4, CR4.LA57)) return "gp";
    // PCIDE only in IA-32e mode (so clearing PG with PCIDE = 1 is #GP too), and it may only
    // be set while CR3[11:0] = 0.
    if (has(n.cr4, CR4.PCIDE) && !lma) return "gp";
    if (has(n.cr4, CR4.PCIDE) && !has(old.cr4, CR4.PCIDE) && (n.cr3 & 0xfffn) !== 0n) return "gp";
    // With PCIDE, CR3 bit 63 written by MOV is the no-flush hint, not stored.
    if (values.cr3 !== undefined && has(n.cr4, CR4.PCIDE)) n.cr3 &= ~bit(63);
    if (lma) {
      // In IA-32e mode CR3 bits 63:MAXPHYADDR are reserved.
      if (n.cr3 & field(63, this.maxPhyAddr)) return "gp";
    } else if (n.cr3 >> 32n) {
      throw new RangeError("cr3");
    }
    // PAE: PDPTEs load on MOV CR3, on MOV CR0 changing PG/CD/NW and on MOV CR4 changing
    // PAE/PGE/PSE/SMEP while PAE paging results; a present PDPTE with a reserved bit is #GP.
    const reload =
      values.cr3 !== undefined ||
      ((old.cr0 ^ n.cr0) & (bit(CR0.PG) | bit(CR0.CD) | bit(CR0.NW))) !== 0n ||
      ((old.cr4 ^ n.cr4) & (bit(CR4.PAE) | bit(CR4.PGE) | bit(CR4.PSE) | bit(CR4.SMEP))) !== 0n;
    let pdptes = this.pdptes;
    if (this.mode(n) === "pae" && reload) {
      // SDM 4.4.1: CR3 bits 31:5 locate the PDPT; Table 4-8 reserves 2:1, 8:5, 63:MAXPHYADDR.
      const base = n.cr3 & 0xffffffe0n;
      pdptes = [0, 1, 2, 3].map((i) => this.readPhys(base + BigInt(8 * i), 8));
      const rsvd = field(2, 1) | field(8, 5) | field(63, this.maxPhyAddr);
      if (pdptes.some((e) => has(e, 0) && (e & rsvd) !== 0n)) return "gp";
    }
    this.regs = n;
    this.pdptes = pdptes;
    return null;
  }

  // ---- translation -------------------------------------------------------------------------

  /** Translates va for the access as SDM 4.3-4.8 describe; applies A/D unless probing. */
  translate(va: bigint, access: RefAccess = {}): RefResult {
    const mode = this.mode();
    if (typeof va !== "bigint") return { error: "TypeError" };
    if (va < 0n || va >= 1n << 64n) return { error: "RangeError" };
    if ((mode === "off" || mode === "32-bit" || mode === "pae") && va >> 32n) return { error: "RangeError" };
    if (access.write && access.fetch) return { error: "RangeError" };
    this.lastUsed = [];
    if (mode === "off") {
      return { pa: va, pageSize: 4096, level: 0, entry: 0n, write: true, user: true, execute: true, global: false, memRefs: 0 };
    }
    if (mode === "4-level" || mode === "5-level") {
      // SDM 3.3.7.1 / 4.5: canonical means bits 63:47 (63:56 with LA57) all equal bit 47 (56).
      const top = mode === "5-level" ? 56 : 47;
      const upper = va >> BigInt(top);
      if (upper !== 0n && upper !== (1n << BigInt(64 - top)) - 1n) return { fault: "gp" };
    }
    return this.evaluate(va, access, this.walk(va), !access.probe);
  }

  /** The argument checks translate() makes before any walk: an error, a #GP, or null. */
  precheck(va: bigint, access: RefAccess = {}): RefResult | null {
    const mode = this.mode();
    if (typeof va !== "bigint") return { error: "TypeError" };
    if (va < 0n || va >= 1n << 64n) return { error: "RangeError" };
    if ((mode === "off" || mode === "32-bit" || mode === "pae") && va >> 32n) return { error: "RangeError" };
    if (access.write && access.fetch) return { error: "RangeError" };
    if (mode === "4-level" || mode === "5-level") {
      const top = mode === "5-level" ? 56 : 47;
      const upper = va >> BigInt(top);
      if (upper !== 0n && upper !== (1n << BigInt(64 - top)) - 1n) return { fault: "gp" };
    }
    return null;
  }

  /** The walk for va in the current (paging) mode, from CR3 or from a cached start. */
  walk(va: bigint, start?: WalkStart): Walk {
    const mode = this.mode();
    return mode === "32-bit" ? this.walk32(va, start) : mode === "pae" ? this.walkPae(va, start) : this.walkIa32e(va, mode === "5-level" ? 5 : 4, start);
  }

  /**
   * The result of a walk (fresh, or resumed below a cached entry, or a cached translation) for
   * this access under the current registers: rights, protection keys, error code; with `ad`,
   * the A/D writes of SDM 4.8 to the entries the walk used.
   */
  evaluate(va: bigint, access: RefAccess, walk: Walk, ad: boolean): RefResult {
    const mode = this.mode();
    const nxe = mode !== "32-bit" && has(this.regs.efer, EFER.NXE);
    const smep = has(this.regs.cr4, CR4.SMEP);
    // SDM 4.7: I/D is set for an instruction fetch when SMEP = 1, or when PAE/IA-32e paging with NXE = 1.
    const accessCode = (access.write ? PF.WR : 0) | (access.user ? PF.US : 0) | (access.fetch && (smep || nxe) ? PF.ID : 0);
    this.lastUsed = walk.used.map((u) => u.pa);
    // Not present: P = 0. A reserved bit: P = 1 and RSVD = 1.
    if (walk.kind !== "ok") {
      return { fault: "page", errorCode: (walk.kind === "reserved" ? PF.P | PF.RSVD : 0) | accessCode, level: walk.level };
    }

    // SDM 4.6.1: the rights of the translation come from every paging-structure entry used.
    // (PAE PDPTEs carry no R/W, U/S or XD: those bits are reserved there.)
    const entries = walk.used.map((u) => u.value);
    const userAddr = entries.every((e) => has(e, 2));
    const writable = entries.every((e) => has(e, 1));
    const xd = nxe && entries.some((e) => has(e, 63));
    const wp = has(this.regs.cr0, CR0.WP);
    const smap = has(this.regs.cr4, CR4.SMAP);
    let allowed: boolean;
    if (access.user) {
      // CPL 3: user-mode addresses only; writes need R/W everywhere; fetches need no XD.
      if (!userAddr) allowed = false;
      else if (access.write) allowed = writable;
      else if (access.fetch) allowed = !xd;
      else allowed = true;
    } else if (access.fetch) {
      // Supervisor fetch: never from user-mode addresses under SMEP; XD forbids with NXE.
      allowed = userAddr && smep ? false : !xd;
    } else if (access.write) {
      if (userAddr && smap && !access.ac) allowed = false;
      else allowed = wp ? writable : true;
    } else {
      allowed = !(userAddr && smap && !access.ac);
    }
    // SDM 4.6.2: protection keys, IA-32e paging with CR4.PKE, data accesses to user-mode addresses.
    let pkFault = false;
    const leaf = walk.used[walk.used.length - 1]!;
    if ((mode === "4-level" || mode === "5-level") && has(this.regs.cr4, CR4.PKE) && userAddr && !access.fetch) {
      const key = Number((leaf.value >> 59n) & 15n);
      const ad = has(this.regs.pkru, 2 * key);
      const wd = has(this.regs.pkru, 2 * key + 1);
      if (ad) pkFault = true;
      else if (wd && access.write && (access.user || wp)) pkFault = true;
    }
    if (!allowed || pkFault) {
      return { fault: "page", errorCode: PF.P | (pkFault ? PF.PK : 0) | accessCode, level: walk.level };
    }

    if (ad) {
      // SDM 4.8: the accessed flag in every entry used, the dirty flag in the leaf on a write.
      // Each is a locked read-modify-write of the entry as it is in memory now.
      for (const u of walk.used) {
        const isLeaf = u === leaf;
        let set = 1n << 5n;
        if (isLeaf && access.write) set |= 1n << 6n;
        const now = this.readPhys(u.pa, u.bytes);
        if ((now & set) !== set) this.writePhys(u.pa, u.bytes, now | set);
      }
    }
    return {
      pa: walk.pa,
      pageSize: walk.pageSize,
      level: walk.level,
      entry: leaf.value,
      write: writable,
      user: userAddr,
      execute: !xd,
      // SDM 4.10.2.4: a translation is global when G = 1 in the leaf and CR4.PGE = 1.
      global: has(leaf.value, 8) && has(this.regs.cr4, CR4.PGE),
      memRefs: walk.used.length,
    };
  }

  /** SDM 4.3: 32-bit paging, 4-byte entries; PSE-36 for 4-MByte pages. */
  private walk32(va: bigint, start?: WalkStart): Walk {
    const used: Used[] = start ? start.used.slice() : [];
    const m = Math.min(this.maxPhyAddr, 40);
    if (start) return this.pte32(va, start.table, used);
    // PDE: bits 31:12 from CR3, bits 11:2 are linear bits 31:22.
    const pdeAddr = (this.regs.cr3 & 0xfffff000n) | (((va >> 22n) & 0x3ffn) << 2n);
    const pde = this.readPhys(pdeAddr, 4);
    used.push({ pa: pdeAddr, bytes: 4, value: pde, level: 2 });
    if (!has(pde, 0)) return { kind: "not-present", level: 2, used };
    if (has(this.regs.cr4, CR4.PSE) && has(pde, 7)) {
      // 4-MByte page: bits 21:(M-19) reserved; bits (M-20):13 are address bits (M-1):32.
      if (pde & field(21, m - 19)) return { kind: "reserved", level: 2, used };
      const high = (pde >> 13n) & ((1n << BigInt(m - 32)) - 1n);
      const pa = (high << 32n) | (pde & 0xffc00000n) | (va & 0x3fffffn);
      return { kind: "ok", pa, pageSize: 4 << 20, level: 2, used };
    }
    return this.pte32(va, pde & 0xfffff000n, used);
  }

  private pte32(va: bigint, table: bigint, used: Used[]): Walk {
    // PTE: bits 31:12 from the PDE, bits 11:2 are linear bits 21:12. No reserved bits.
    const pteAddr = table | (((va >> 12n) & 0x3ffn) << 2n);
    const pte = this.readPhys(pteAddr, 4);
    used.push({ pa: pteAddr, bytes: 4, value: pte, level: 1 });
    if (!has(pte, 0)) return { kind: "not-present", level: 1, used };
    return { kind: "ok", pa: (pte & 0xfffff000n) | (va & 0xfffn), pageSize: 4096, level: 1, used };
  }

  /** SDM 4.4: PAE paging; the PDPTE comes from the PDPTE registers. */
  private walkPae(va: bigint, start?: WalkStart): Walk {
    const used: Used[] = start ? start.used.slice() : [];
    const m = this.maxPhyAddr;
    const nxe = has(this.regs.efer, EFER.NXE);
    // Reserved in PAE PDEs and PTEs: 62:M, and 63 unless NXE (Tables 4-9 .. 4-11).
    const rsvd = field(62, m) | (nxe ? 0n : bit(63));
    const addr = field(m - 1, 12);
    if (start) return this.ptePae(va, start.table, used, rsvd, addr);
    const pdpte = this.pdptes[Number((va >> 30n) & 3n)]!;
    if (!has(pdpte, 0)) return { kind: "not-present", level: 3, used };
    const pdeAddr = (pdpte & addr) | (((va >> 21n) & 0x1ffn) << 3n);
    const pde = this.readPhys(pdeAddr, 8);
    used.push({ pa: pdeAddr, bytes: 8, value: pde, level: 2 });
    if (!has(pde, 0)) return { kind: "not-present", level: 2, used };
    if (has(pde, 7)) {
      if (pde & (rsvd | field(20, 13))) return { kind: "reserved", level: 2, used };
      return { kind: "ok", pa: (pde & field(m - 1, 21)) | (va & 0x1fffffn), pageSize: 2 << 20, level: 2, used };
    }
    if (pde & rsvd) return { kind: "reserved", level: 2, used };
    return this.ptePae(va, pde & addr, used, rsvd, addr);
  }

  private ptePae(va: bigint, table: bigint, used: Used[], rsvd: bigint, addr: bigint): Walk {
    const pteAddr = table | (((va >> 12n) & 0x1ffn) << 3n);
    const pte = this.readPhys(pteAddr, 8);
    used.push({ pa: pteAddr, bytes: 8, value: pte, level: 1 });
    if (!has(pte, 0)) return { kind: "not-present", level: 1, used };
    if (pte & rsvd) return { kind: "reserved", level: 1, used };
    return { kind: "ok", pa: (pte & addr) | (va & 0xfffn), pageSize: 4096, level: 1, used };
  }

  /** SDM 4.5: 4-level and 5-level paging. */
  private walkIa32e(va: bigint, levels: 4 | 5, start?: WalkStart): Walk {
    const used: Used[] = start ? start.used.slice() : [];
    const m = this.maxPhyAddr;
    const nxe = has(this.regs.efer, EFER.NXE);
    // Reserved in every IA-32e entry: 51:M, and 63 unless NXE (bits 62:52 are ignored).
    const rsvd = field(51, m) | (nxe ? 0n : bit(63));
    const addr = field(m - 1, 12);
    let table = start ? start.table : this.regs.cr3 & addr;
    // Linear-address bit where each level's 9-bit index starts.
    const indexShift = { 5: 48n, 4: 39n, 3: 30n, 2: 21n, 1: 12n } as const;
    for (let level: number = start ? start.level : levels; level >= 1; level--) {
      const ea = table | (((va >> indexShift[level as 1 | 2 | 3 | 4 | 5]) & 0x1ffn) << 3n);
      const e = this.readPhys(ea, 8);
      used.push({ pa: ea, bytes: 8, value: e, level });
      if (!has(e, 0)) return { kind: "not-present", level, used };
      const ps = has(e, 7);
      if (level >= 4) {
        // PML5E / PML4E: PS is reserved (must be 0).
        if (ps || (e & rsvd)) return { kind: "reserved", level, used };
      } else if (level === 3 && ps) {
        // 1-GByte page: bits 29:13 reserved.
        if (e & (rsvd | field(29, 13))) return { kind: "reserved", level, used };
        return { kind: "ok", pa: (e & field(m - 1, 30)) | (va & field(29, 0)), pageSize: 1 << 30, level, used };
      } else if (level === 2 && ps) {
        // 2-MByte page: bits 20:13 reserved.
        if (e & (rsvd | field(20, 13))) return { kind: "reserved", level, used };
        return { kind: "ok", pa: (e & field(m - 1, 21)) | (va & field(20, 0)), pageSize: 2 << 20, level, used };
      } else if (e & rsvd) {
        // A table reference, or a 4-KByte PTE (where bit 7 is PAT).
        return { kind: "reserved", level, used };
      }
      if (level === 1) return { kind: "ok", pa: (e & addr) | (va & 0xfffn), pageSize: 4096, level, used };
      table = e & addr;
    }
    throw new Error("unreachable");
  }
}

export type Walk =
  | { kind: "ok"; pa: bigint; pageSize: number; level: number; used: Used[] }
  | { kind: "not-present" | "reserved"; level: number; used: Used[] };
