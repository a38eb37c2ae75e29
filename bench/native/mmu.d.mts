// Types of bench/native/mmu.mjs (the careful-JavaScript reference and the shared workload shapes).
export declare const RAM_BYTES: number;
export declare const FIRST_FRAME: number;
export declare const TEXT_PAGES: number, HEAP_PAGES: number, MMAP_PAGES: number, STACK_PAGES: number;
export declare const PAGES: number;
export declare const TLB_SLOTS: number, HOT_PAGES: number;
export declare const SEED_HOT: number, SEED_WALK: number, SEED_PDE: number, SEED_SET: number;
export declare function random(seed: number): () => number;
export declare function pageVpn(k: number, levels: number): number;
export declare function buildSpace(ram: Int32Array, levels: number): { root: number; tables: number; frames: number };
export declare function hitStream(levels: number, n: number): { hot: number[]; va: Uint32Array };
export declare function walkStream(levels: number, n: number): Uint32Array;
export declare function pdeStream(levels: number, n: number): Uint32Array;
export declare function setStream(levels: number, n: number): Uint32Array;
export declare function walk(ram: Int32Array, root: number, levels: number, vaLo: number, vaHi: number): number;
export declare function makeTlb(): Int32Array;
export declare function fillTlb(tlb: Int32Array, ram: Int32Array, root: number, levels: number, hot: readonly number[]): void;
export declare function checksum(lo: number, frames: number): string;
export declare function streamChecksum(va: Uint32Array): string;
export interface RunResult { cs: string; faults: number }
export declare function runW1(tlb: Int32Array, ram: Int32Array, root: number, levels: number, va: Uint32Array, n: number): RunResult;
export declare function runW2(ram: Int32Array, root: number, levels: number, va: Uint32Array, n: number): RunResult;
