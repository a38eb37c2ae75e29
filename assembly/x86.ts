// Architectural constants, named as the Intel SDM Vol. 3A ch. 2 and 4 name them.

// Paging-structure entry bits (Tables 4-4 .. 4-20).
export const PTE_P: u64 = 1 << 0; //    present
export const PTE_RW: u64 = 1 << 1; //   read/write: writes allowed if set at every level
export const PTE_US: u64 = 1 << 2; //   user/supervisor: user accesses allowed if set at every level
export const PTE_PWT: u64 = 1 << 3; //  page-level write-through
export const PTE_PCD: u64 = 1 << 4; //  page-level cache disable
export const PTE_A: u64 = 1 << 5; //    accessed: set by the walk at every level used
export const PTE_D: u64 = 1 << 6; //    dirty: set in the leaf on a write
export const PTE_PS: u64 = 1 << 7; //   page size: a large page ends the walk here (PAT in a 4 KiB PTE)
export const PTE_G: u64 = 1 << 8; //    global: survives CR3 writes when CR4.PGE = 1
export const PTE_SW_COW: u64 = 1 << 9; // bit 9 is the OS's: the kernel marks copy-on-write pages
export const PTE_SW_SPECIAL: u64 = 1 << 10; // bit 10 is the OS's: no struct page (ioremap, zero page)
export const PTE_PAT_LARGE: u64 = 1 << 12; // PAT bit of a 2 MiB / 1 GiB / 4 MiB page
export const PTE_XD: u64 = 1 << 63; //  execute-disable (only with PAE and EFER.NXE = 1)
export const PTE_PK_SHIFT: u64 = 59; // protection key, bits 62:59 of a leaf (4/5-level, CR4.PKE)

// Page-fault error code (Figure 4-12).
export const PF_P: u32 = 1 << 0; //    0: not present; 1: protection or reserved-bit violation
export const PF_WR: u32 = 1 << 1; //   the access was a write
export const PF_US: u32 = 1 << 2; //   the access was a user-mode access
export const PF_RSVD: u32 = 1 << 3; // a reserved bit was set in some paging-structure entry
export const PF_ID: u32 = 1 << 4; //   instruction fetch (reported only with SMEP or PAE+NXE)
export const PF_PK: u32 = 1 << 5; //   protection-key violation

// Control registers.
export const CR0_PE: u64 = 1 << 0;
export const CR0_WP: u64 = 1 << 16;
export const CR0_NW: u64 = 1 << 29;
export const CR0_CD: u64 = 1 << 30;
export const CR0_PG: u64 = 1 << 31;
export const CR4_PSE: u64 = 1 << 4;
export const CR4_PAE: u64 = 1 << 5;
export const CR4_PGE: u64 = 1 << 7;
export const CR4_LA57: u64 = 1 << 12;
export const CR4_PCIDE: u64 = 1 << 17;
export const CR4_SMEP: u64 = 1 << 20;
export const CR4_SMAP: u64 = 1 << 21;
export const CR4_PKE: u64 = 1 << 22;
export const EFER_LME: u64 = 1 << 8;
export const EFER_LMA: u64 = 1 << 10;
export const EFER_NXE: u64 = 1 << 11;

// Access kinds passed to translate (a bit set; the facade builds it from { write, user, fetch, ac, probe }).
export const ACC_WRITE: u32 = 1 << 0;
export const ACC_USER: u32 = 1 << 1;
export const ACC_FETCH: u32 = 1 << 2;
export const ACC_AC: u32 = 1 << 3; //    EFLAGS.AC: lets a supervisor data access reach user pages under SMAP
export const ACC_PROBE: u32 = 1 << 4; // debugger's view: no A/D writes, no TLB fill, no counters

// Paging modes (SDM 4.1.1), chosen by CR0.PG, CR4.PAE, EFER.LME and CR4.LA57.
export const MODE_OFF: u32 = 0;
export const MODE_32: u32 = 1; // 32-bit paging: 2 levels of 4-byte entries
export const MODE_PAE: u32 = 2; // PAE: PDPTE registers + 2 levels of 8-byte entries
export const MODE_4L: u32 = 3; // 4-level
export const MODE_5L: u32 = 4; // 5-level (LA57)

// translate() status.
export const ST_OK: u32 = 0;
export const ST_PF: u32 = 1; // #PF, error code in the result block
export const ST_GP: u32 = 2; // #GP: non-canonical linear address
