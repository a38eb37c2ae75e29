// Architectural constants for users of the facade, named as the Intel SDM names them.
// assembly/x86.ts holds the same values for the WebAssembly core.

/** Paging-structure entry bits (SDM Vol. 3A Tables 4-4 .. 4-20). */
export const PTE_P = 1n << 0n; //    present
export const PTE_RW = 1n << 1n; //   writable
export const PTE_US = 1n << 2n; //   user
export const PTE_PWT = 1n << 3n; //  write-through
export const PTE_PCD = 1n << 4n; //  cache disable
export const PTE_A = 1n << 5n; //    accessed
export const PTE_D = 1n << 6n; //    dirty
export const PTE_PS = 1n << 7n; //   large page (PAT in a 4 KiB PTE)
export const PTE_G = 1n << 8n; //    global
export const PTE_XD = 1n << 63n; //  execute-disable

/** Page-fault error code bits (SDM Figure 4-12). */
export const PF_P = 1 << 0; //    protection (1) or not-present (0)
export const PF_WR = 1 << 1; //   write
export const PF_US = 1 << 2; //   user-mode access
export const PF_RSVD = 1 << 3; // reserved bit set
export const PF_ID = 1 << 4; //   instruction fetch
export const PF_PK = 1 << 5; //   protection key

/** Control-register bits. */
export const CR0_PE = 1n << 0n;
export const CR0_ET = 1n << 4n;
export const CR0_WP = 1n << 16n;
export const CR0_NW = 1n << 29n;
export const CR0_CD = 1n << 30n;
export const CR0_PG = 1n << 31n;
export const CR4_PSE = 1n << 4n;
export const CR4_PAE = 1n << 5n;
export const CR4_PGE = 1n << 7n;
export const CR4_LA57 = 1n << 12n;
export const CR4_PCIDE = 1n << 17n;
export const CR4_SMEP = 1n << 20n;
export const CR4_SMAP = 1n << 21n;
export const CR4_PKE = 1n << 22n;
export const CR4_CET = 1n << 23n;
export const EFER_SCE = 1n << 0n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
export const EFER_NXE = 1n << 11n;
/** Bit 63 of a MOV-to-CR3 source with CR4.PCIDE = 1: keep the new PCID's TLB entries. */
export const CR3_NOFLUSH = 1n << 63n;
