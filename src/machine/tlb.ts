// Configuration of the translation caches (assembly/tlb.ts): TLB structures and
// paging-structure caches, their defaults, and where their entries sit in linear memory.

import { checkInt, checkOptions } from "../errors.js";

export type TlbPageSize = "4K" | "2M" | "1G";
export type TlbSide = "instruction" | "data" | "unified";

/** One TLB structure: entries = sets x ways; holds translations of one page size. */
export interface TlbStructureConfig {
  name: string;
  entries: number;
  /** 1 = direct-mapped; entries = fully associative. */
  ways: number;
  /** "2M" also holds 4 MiB pages in 32-bit paging. */
  pageSize: TlbPageSize;
  side: TlbSide;
  /** 1: first level; 2: second level (STLB), consulted on a first-level miss and refilling it. */
  level?: 1 | 2;
}

export interface TlbConfig {
  structures: TlbStructureConfig[];
}

export interface CacheGeometry {
  entries: number;
  ways: number;
}

/** Paging-structure caches by the level of the entries they hold (SDM 4.10.3). */
export interface PwcConfig {
  pml5e?: CacheGeometry | false;
  pml4e?: CacheGeometry | false;
  pdpte?: CacheGeometry | false;
  pde?: CacheGeometry | false;
}

/**
 * TLBs of an Intel Skylake core, as the Intel 64 and IA-32 Architectures Optimization Reference
 * Manual lists them (ITLB 4K 128 x 8-way, ITLB 2M/4M 8 fully associative; DTLB 4K 64 x 4-way,
 * 2M/4M 32 x 4-way, 1G 4 fully associative; STLB 1536 x 12-way, 1G 16 x 4-way). Skylake's STLB
 * shares its 1536 entries between 4 KiB and 2 MiB pages; here it holds 4 KiB pages only and
 * 2 MiB pages live in the first level only.
 */
export const SKYLAKE_TLB: TlbConfig = {
  structures: [
    { name: "itlb-4k", entries: 128, ways: 8, pageSize: "4K", side: "instruction" },
    { name: "itlb-2m", entries: 8, ways: 8, pageSize: "2M", side: "instruction" },
    { name: "dtlb-4k", entries: 64, ways: 4, pageSize: "4K", side: "data" },
    { name: "dtlb-2m", entries: 32, ways: 4, pageSize: "2M", side: "data" },
    { name: "dtlb-1g", entries: 4, ways: 4, pageSize: "1G", side: "data" },
    { name: "stlb-4k", entries: 1536, ways: 12, pageSize: "4K", side: "unified", level: 2 },
    { name: "stlb-1g", entries: 16, ways: 4, pageSize: "1G", side: "unified", level: 2 },
  ],
};

/**
 * Paging-structure caches. Intel documents their existence and rules, not their sizes; these
 * small sizes are this project's assumption.
 */
export const DEFAULT_PWC: Required<PwcConfig> = {
  pml5e: { entries: 2, ways: 2 },
  pml4e: { entries: 4, ways: 4 },
  pdpte: { entries: 8, ways: 8 },
  pde: { entries: 32, ways: 4 },
};

/** One direct-mapped 4 KiB TLB for everything: the shape the JavaScript inline path likes. */
export function directMappedTlb(entries = 4096): TlbConfig {
  return { structures: [{ name: "tlb", entries, ways: 1, pageSize: "4K", side: "unified" }] };
}

export interface StructurePlan {
  name: string;
  sets: number;
  ways: number;
  kind: number; // assembly/tlb.ts KIND_*
  sides: number; // SIDE_*
  level: number;
  /** Byte offsets of its entries and LRU stamps inside the "tlb" block. */
  entriesAt: number;
  lruAt: number;
}

const KIND: Record<TlbPageSize, number> = { "4K": 0, "2M": 1, "1G": 2 };
const SIDES: Record<TlbSide, number> = { instruction: 1, data: 2, unified: 3 };
const PWC_LEVEL = { pde: 2, pdpte: 3, pml4e: 4, pml5e: 5 } as const;
export const MAX_STRUCTURES = 12;

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

function geometry(name: string, g: unknown): { sets: number; ways: number } {
  const o = checkOptions<CacheGeometry>(name, g, ["entries", "ways"]);
  const entries = checkInt(`${name}.entries`, o.entries, 1, 1 << 16);
  const ways = checkInt(`${name}.ways`, o.ways, 1, entries);
  const sets = entries / ways;
  if (!Number.isInteger(sets) || !isPow2(sets)) {
    throw new RangeError(`${name}: entries / ways must be a power of two, got ${entries} / ${ways}`);
  }
  return { sets, ways };
}

/** Validates the configuration and lays out every structure; sizes are in bytes. */
export function planCaches(tlb: unknown, pwc: unknown): { structures: StructurePlan[]; bytes: number; tlbOn: boolean; pwcOn: boolean } {
  const structures: StructurePlan[] = [];
  let bytes = 0;
  const add = (name: string, g: { sets: number; ways: number }, kind: number, sides: number, level: number) => {
    const n = g.sets * g.ways;
    structures.push({ name, ...g, kind, sides, level, entriesAt: bytes, lruAt: bytes + n * 16 });
    bytes += n * 20;
  };
  const t = tlb === undefined ? SKYLAKE_TLB : tlb;
  if (t !== false) {
    const o = checkOptions<TlbConfig>("tlb", t, ["structures"]);
    if (!Array.isArray(o.structures)) throw new TypeError(`tlb.structures must be an array, got ${String(o.structures)}`);
    o.structures.forEach((s, i) => {
      const name = `tlb.structures[${i}]`;
      const c = checkOptions<TlbStructureConfig>(name, s, ["name", "entries", "ways", "pageSize", "side", "level"]);
      if (typeof c.name !== "string" || !c.name) throw new TypeError(`${name}.name must be a non-empty string, got ${String(c.name)}`);
      if (!(c.pageSize! in KIND)) throw new RangeError(`${name}.pageSize must be "4K", "2M" or "1G", got ${String(c.pageSize)}`);
      if (!(c.side! in SIDES)) throw new RangeError(`${name}.side must be "instruction", "data" or "unified", got ${String(c.side)}`);
      const level = c.level === undefined ? 1 : checkInt(`${name}.level`, c.level, 1, 2);
      // One structure per page size, side and level: a lookup probes exactly one.
      const clash = structures.find(
        (o) => o.kind === KIND[c.pageSize!] && o.level === level && (o.sides & SIDES[c.side!]) !== 0,
      );
      if (clash) throw new RangeError(`${name} (${c.name}) holds the same page size, side and level as ${clash.name}`);
      add(c.name, geometry(name, { entries: c.entries, ways: c.ways }), KIND[c.pageSize!], SIDES[c.side!], level);
    });
  }
  const tlbCount = structures.length;
  const p = pwc === undefined ? DEFAULT_PWC : pwc;
  if (p !== false) {
    const o = checkOptions<PwcConfig>("pwc", p, Object.keys(PWC_LEVEL));
    for (const key of Object.keys(PWC_LEVEL) as Array<keyof typeof PWC_LEVEL>) {
      const g = o[key];
      if (g === undefined || g === false) continue;
      add(key, geometry(`pwc.${key}`, g), 3 + PWC_LEVEL[key] - 2, 3, 1);
    }
  }
  if (structures.length > MAX_STRUCTURES) {
    throw new RangeError(`at most ${MAX_STRUCTURES} TLB and paging-structure-cache structures, got ${structures.length}`);
  }
  return { structures, bytes, tlbOn: tlbCount > 0, pwcOn: structures.length > tlbCount };
}
