// Loading the WebAssembly core in Node and in browsers, and placing the emulator's blocks
// and guest RAM in its linear memory. One instance per Machine: the module's globals are
// that machine's registers.

import { readContract, type Contract } from "./contract.js";

/** The exports of build/release.wasm (assembly/index.ts). u64 crosses as a signed BigInt. */
export interface CoreExports {
  init(ctrl: number, ram: number, ramBytes: bigint, physAddrBits: number): void;
  heapBase(): number;
  setControl(cr0: bigint, cr3: bigint, cr4: bigint, efer: bigint, pkru: number, loadPdpte: number): number;
  pdptesValid(cr3: bigint): number;
  modeOf(cr0: bigint, cr4: bigint, efer: bigint): number;
  translate(va: bigint, access: number): number;
  translate2(vaLo: number, vaHi: number, access: number): number;
  /** The physical address as a number, or -1 on a fault (then in the result block). */
  translatePa(vaLo: number, vaHi: number, access: number): number;
  /** Adds the counters translatePa() leaves pending to the counter block. */
  flushStats(): void;
  translateBatch(vas: number, accs: number, pas: number, start: number, count: number, access: number): number;
  syncContext(): void;
  /** MOV to CR3 (checked value, no-flush hint apart): false if a PAE PDPTE is invalid. */
  movCr3(lo: number, hi: number, noFlush: number): number;
  rederiveAllow(): void;
  invlpg(va: bigint): void;
  invpcid(type: number, pcid: number, va: bigint): void;
  flushFor(cause: number, pcid: number, withGlobal: number): void;
  tlbDefine(s: number, base: number, sets: number, ways: number, kind: number, sides: number, level: number, lru: number): void;
  tlbConfigure(tlb: number, pwc: number): void;
  dumpStart(): void;
  /** dumpStart, also reporting holes (entries that map nothing) as records. */
  dumpStartAll(): void;
  dumpNext(out: number, max: number): number;
  /** Trace replay: lackey lines to batch entries (assembly/lackey.ts). */
  lackeyParse(buf: number, len: number, vas: number, accs: number, cap: number, kindAccess: number, counts: number): number;
}

const WASM_PAGE = 65536;
/** Linear memory below this holds the module's static data; checked against heapBase(). */
const STATIC_RESERVE = 192 * 1024;
/** The most linear memory a 32-bit WebAssembly instance can address. */
export const LINEAR_MEMORY_MAX = 65536 * WASM_PAGE;

let cachedModule: Promise<WebAssembly.Module> | undefined;

async function readWasm(url: URL): Promise<ArrayBuffer | Uint8Array> {
  if (url.protocol === "file:") {
    // Node 20's fetch cannot read file: URLs.
    const fs = await import(/* @vite-ignore */ "node:fs/promises");
    return fs.readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`wasm-mmu: cannot load ${url.href}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

/** Compiles build/release.wasm once per process (or uses the module/bytes given). */
export function coreModule(source?: WebAssembly.Module | BufferSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return Promise.resolve(source);
  if (source) return WebAssembly.compile(source);
  cachedModule ??= readWasm(new URL("../../build/release.wasm", import.meta.url)).then((b) =>
    WebAssembly.compile(b as BufferSource),
  );
  return cachedModule;
}

/** A block of linear memory reserved for the emulator (byte offset and length). */
export interface Block {
  offset: number;
  bytes: number;
}

/**
 * Plans linear memory: named blocks from STATIC_RESERVE up, each 64-byte aligned, then guest
 * RAM on a 64 KiB boundary at the end.
 */
export class LayoutPlan {
  private next = STATIC_RESERVE;
  readonly blocks: Record<string, Block> = {};

  add(name: string, bytes: number): Block {
    const block = { offset: this.next, bytes };
    this.blocks[name] = block;
    this.next = Math.ceil((this.next + bytes) / 64) * 64;
    return block;
  }

  /** Offset guest RAM would start at. */
  get ramOffset(): number {
    return Math.ceil(this.next / WASM_PAGE) * WASM_PAGE;
  }

  /** Largest guest RAM that fits beside these blocks. */
  get maxRamBytes(): number {
    return LINEAR_MEMORY_MAX - this.ramOffset;
  }
}

export interface CoreInstance {
  exports: CoreExports;
  memory: WebAssembly.Memory;
  ramOffset: number;
  contract: Contract;
}

/** Instantiates the core with a memory sized once for the blocks and ramBytes of RAM. */
export async function instantiateCore(
  plan: LayoutPlan,
  ramBytes: number,
  physAddrBits: number,
  source?: WebAssembly.Module | BufferSource,
): Promise<CoreInstance> {
  const module = await coreModule(source);
  // RAM ends exactly at the end of linear memory (so a stray access past it traps) even when
  // ramBytes is not a whole number of 64 KiB WebAssembly pages: it starts that much higher.
  const pages = Math.ceil((plan.ramOffset + ramBytes) / WASM_PAGE);
  const ramOffset = pages * WASM_PAGE - ramBytes;
  // Memory never grows, so views over it stay valid for the machine's life.
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`wasm-mmu: internal error in the WebAssembly core at ${line}:${col}`);
      },
    },
  });
  const exports = instance.exports as unknown as CoreExports;
  const contract = readContract(instance.exports);
  if (exports.heapBase() > STATIC_RESERVE) {
    throw new Error(`wasm-mmu: core static data (${exports.heapBase()} bytes) exceeds its reserve`);
  }
  exports.init(plan.blocks.ctrl!.offset, ramOffset, BigInt(ramBytes), physAddrBits);
  return { exports, memory, ramOffset, contract };
}
