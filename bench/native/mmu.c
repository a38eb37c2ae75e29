/*
 * Native reference for wasm-mmu's hot paths: the floor `npm run bench` measures the product
 * against, on the same workload shapes (bench/native.bench.ts builds this with gcc -O2).
 *
 * One flat array is physical RAM. Page tables are 4 KiB pages of 512 little-endian x86-64
 * entries in it. The layout and the random streams are the ones bench/native/mmu.mjs builds
 * for the product (same frame order, same xorshift32 seeds), so the checksums of the physical
 * addresses must come out equal; test/native.test.ts holds them equal.
 *
 * A process with 1 GiB resident in 4 KiB pages (262,144 leaves, 517 tables at 4 levels):
 *   text   8 MiB at 0x400000          P|U           (read-only, executable)
 *   heap 512 MiB at 0x1000000         P|W|U|XD
 *   mmap 496 MiB at top - 1 GiB       P|W|U|XD
 *   stack  8 MiB at top - 8 MiB       P|W|U|XD      (top = 2^(12 + 9 * levels - 1))
 * With LEVELS = 2 it is 32-bit paging instead (4-byte entries, 1024 per table, no XD, CR4.PSE
 * = 0 so PS is ignored; top = 3 GiB; 257 tables), for W2 only.
 * Frames come from a bump allocator from 1 MiB up, in page order: each page's missing tables
 * first, then its data frame. A bits start clear.
 *
 * Workloads (all user-mode data reads):
 *   W1  TLB hit: a direct-mapped TLB of 4096 {tag = VPN, frame | W,U,XD}, 256 hot pages each
 *       in its own slot, filled by walks before timing; random hot page + random offset.
 *   W2  walk, no TLB: uniformly random mapped addresses. Per level: load, P check, set A only
 *       if clear, AND R/W and U/S, OR XD; PS ends the walk at levels 2 and 3; the user check
 *       is made once after the leaf. -DSPEC compiles the loop per level count, unrolled.
 *   W3  fork: copy the whole tree; leaves lose R/W in parent and child; each frame's
 *       reference count goes up by one.
 *   W4  exit: the child's tree torn down: leaf references dropped, its tables freed.
 *
 * Usage: mmu LEVELS(2..5) REPS N WORKLOADS(e.g. W1,W2,W3)   (W3 also runs W4; 2: W2 only)
 * Prints one JSON line per repetition; rep 0 is cold. Checksums: "lo:frames", the u32 sums
 * of the physical addresses' low words and of their frame numbers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PTE_P  0x1ULL
#define PTE_RW 0x2ULL
#define PTE_US 0x4ULL
#define PTE_A  0x20ULL
#define PTE_PS 0x80ULL
#define PTE_XD (1ULL << 63)
#define ADDR   0x000ffffffffff000ULL  /* bits 51:12: the next table or the frame */
#define FAULT  (~0ULL)

#define RAM_BYTES   ((1ULL << 30) + (8ULL << 20))
#define FIRST_FRAME 256u                /* frames below 1 MiB are never handed out */
#define TEXT_PAGES  2048u
#define HEAP_PAGES  131072u
#define MMAP_PAGES  126976u
#define STACK_PAGES 2048u
#define PAGES       (TEXT_PAGES + HEAP_PAGES + MMAP_PAGES + STACK_PAGES) /* 2^18 */
#define TLB_SLOTS   4096u
#define HOT_PAGES   256u
#define SEED_HOT    0x2545f491u
#define SEED_WALK   0x9e3779b9u

#ifdef SPEC
#define IMPL "C-spec"
#else
#define IMPL "C"
#endif

static uint8_t *ram;
static uint32_t *refs;                  /* reference count per frame */
static uint32_t *freed, nfreed, bump;   /* free-frame stack, then never-used frames */
static int levels;
static uint64_t root;

static inline uint64_t *entry_at(uint64_t table, unsigned i) { return (uint64_t *)(ram + table) + i; }

static uint64_t frame_alloc(void) {
  uint32_t f = nfreed ? freed[--nfreed] : bump++;
  if ((uint64_t)f << 12 >= RAM_BYTES) { fprintf(stderr, "out of RAM\n"); exit(2); }
  refs[f] = 1;
  return (uint64_t)f << 12;
}
static inline void frame_put(uint64_t pa) {
  uint32_t f = (uint32_t)(pa >> 12);
  if (--refs[f] == 0) freed[nfreed++] = f;
}

/* xorshift32 (Marsaglia): the streams are the same in C and JavaScript. */
static uint32_t rng;
static inline uint32_t next_random(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

/* Virtual address of resident page k (0 .. PAGES-1), in region order. */
static uint64_t page_va(uint32_t k) {
  uint64_t top = levels == 2 ? 0xc0000000ULL : 1ULL << (12 + 9 * levels - 1);
  if (k < TEXT_PAGES) return 0x400000ULL + ((uint64_t)k << 12);
  k -= TEXT_PAGES;
  if (k < HEAP_PAGES) return 0x1000000ULL + ((uint64_t)k << 12);
  k -= HEAP_PAGES;
  if (k < MMAP_PAGES) return top - (1ULL << 30) + ((uint64_t)k << 12);
  return top - (8ULL << 20) + ((uint64_t)(k - MMAP_PAGES) << 12);
}

static void build(void) {
  root = frame_alloc();
  memset(ram + root, 0, 4096);
  for (uint32_t k = 0; k < PAGES; k++) {
    uint64_t va = page_va(k), table = root;
    for (int l = levels; l > 1; l--) {
      uint64_t *e = entry_at(table, (va >> (12 + 9 * (l - 1))) & 511);
      if (!(*e & PTE_P)) {
        uint64_t t = frame_alloc();
        memset(ram + t, 0, 4096);
        *e = t | PTE_P | PTE_RW | PTE_US;
      }
      table = *e & ADDR;
    }
    uint64_t flags = k < TEXT_PAGES ? PTE_P | PTE_US : PTE_P | PTE_RW | PTE_US | PTE_XD;
    *entry_at(table, (va >> 12) & 511) = frame_alloc() | flags;
  }
}

/* 32-bit paging: the same pages, frames in the same order, 4-byte entries. */
static uint32_t build32(void) {
  uint32_t tables = 1;
  root = frame_alloc();
  memset(ram + root, 0, 4096);
  for (uint32_t k = 0; k < PAGES; k++) {
    uint32_t va = (uint32_t)page_va(k);
    uint32_t *pde = (uint32_t *)(ram + root) + (va >> 22);
    if (!(*pde & PTE_P)) {
      uint64_t t = frame_alloc();
      memset(ram + t, 0, 4096);
      *pde = (uint32_t)t | PTE_P | PTE_RW | PTE_US;
      tables++;
    }
    uint32_t flags = k < TEXT_PAGES ? PTE_P | PTE_US : PTE_P | PTE_RW | PTE_US;
    ((uint32_t *)(ram + (*pde & 0xfffff000u)))[(va >> 12) & 1023] = (uint32_t)frame_alloc() | flags;
  }
  return tables;
}
/* The 32-bit walk for a user read: PDE, PTE; same rules as walk_levels (no XD, no PS). */
static inline __attribute__((always_inline)) uint64_t walk32(uint32_t va) {
  uint32_t *p = (uint32_t *)(ram + root) + (va >> 22);
  uint32_t e = *p;
  if (!(e & PTE_P)) return FAULT;
  if (!(e & PTE_A)) *p = e |= PTE_A;
  uint32_t rights = e, table = e & 0xfffff000u;
  if (table >= RAM_BYTES) return FAULT;
  p = (uint32_t *)(ram + table) + ((va >> 12) & 1023);
  e = *p;
  if (!(e & PTE_P)) return FAULT;
  if (!(e & PTE_A)) *p = e |= PTE_A;
  rights &= e;
  if (!(rights & PTE_US)) return FAULT;
  return (uint64_t)((e & 0xfffff000u) | (va & 0xfff));
}

/* One level of the walk: returns the entry (A set in memory if it was clear). */
static inline __attribute__((always_inline)) uint64_t step(uint64_t table, uint64_t va, unsigned shift) {
  uint64_t *p = entry_at(table, (va >> shift) & 511);
  uint64_t e = *p;
  if ((e & (PTE_P | PTE_A)) == PTE_P) *p = e |= PTE_A;
  return e;
}

/* The walk for a user read with `n` levels; returns pa | rights << 60 (bit 0 W, bit 1 XD), or
 * FAULT. Written once; with a constant n and always_inline gcc unrolls it (-DSPEC). */
static inline __attribute__((always_inline)) uint64_t walk_levels(uint64_t va, const int n) {
  uint64_t table = root, rights = PTE_RW | PTE_US, xd = 0;
#pragma GCC unroll 8
  for (int l = n; l >= 1; l--) {
    unsigned shift = 12 + 9 * (l - 1);
    uint64_t e = step(table, va, shift);
    if (!(e & PTE_P)) return FAULT;
    rights &= e;
    xd |= e & PTE_XD;
    uint64_t next = e & ADDR;
    if (l == 1 || ((e & PTE_PS) && l <= 3)) {
      if (!(rights & PTE_US)) return FAULT;
      uint64_t low = (1ULL << shift) - 1;
      return ((next & ~low) | (va & low)) | ((rights & PTE_RW) << 59) | (xd >> 2);
    }
    if (next >= RAM_BYTES) return FAULT; /* a table beyond RAM: the product faults too */
    table = next;
  }
  return FAULT;
}
static __attribute__((noinline)) uint64_t walk(uint64_t va) { return walk_levels(va, levels); }

/* W1's TLB: tag = VPN (all ones: empty), val = frame | bit 0 W | bit 1 U | bit 2 XD. */
static struct { uint64_t tag, val; } tlb[TLB_SLOTS];

static inline __attribute__((always_inline)) uint64_t tlb_translate(uint64_t va) {
  uint64_t vpn = va >> 12;
  unsigned slot = vpn & (TLB_SLOTS - 1);
  if (tlb[slot].tag == vpn && (tlb[slot].val & 2)) return (tlb[slot].val & ~0xfffULL) | (va & 0xfff);
  uint64_t r = walk(va);
  if (r == FAULT) return r;
  tlb[slot].tag = vpn;
  tlb[slot].val = (r & ADDR) | ((r >> 60) & 1) | 2 | ((r >> 59) & 4);
  return r & ~(0xfULL << 60);
}

typedef struct { uint32_t lo, frames, faults; } sums_t;
#define ADD(s, pa) do { if ((pa) == FAULT) (s).faults++; else { (s).lo += (uint32_t)(pa); (s).frames += (uint32_t)((pa) >> 12); } } while (0)

static __attribute__((noinline)) sums_t run_w1(const uint64_t *va, uint32_t n) {
  sums_t s = {0, 0, 0};
  for (uint32_t i = 0; i < n; i++) { uint64_t pa = tlb_translate(va[i]); ADD(s, pa); }
  return s;
}

static inline __attribute__((always_inline)) sums_t walk_all(const uint64_t *va, uint32_t n, const int L) {
  sums_t s = {0, 0, 0};
  for (uint32_t i = 0; i < n; i++) {
    uint64_t r = walk_levels(va[i], L);
    if (r != FAULT) r &= ~(0xfULL << 60);
    ADD(s, r);
  }
  return s;
}
static __attribute__((noinline)) sums_t run_w2(const uint64_t *va, uint32_t n) {
  if (levels == 2) {
    sums_t s = {0, 0, 0};
    for (uint32_t i = 0; i < n; i++) { uint64_t r = walk32((uint32_t)va[i]); ADD(s, r); }
    return s;
  }
#ifdef SPEC
  switch (levels) { case 3: return walk_all(va, n, 3); case 4: return walk_all(va, n, 4); default: return walk_all(va, n, 5); }
#else
  sums_t s = {0, 0, 0};
  for (uint32_t i = 0; i < n; i++) {
    uint64_t r = walk(va[i]);
    if (r != FAULT) r &= ~(0xfULL << 60);
    ADD(s, r);
  }
  return s;
#endif
}

/* W3: the child's copy of `table` (level l), write-protecting leaves on both sides. */
static uint64_t fork_table(uint64_t table, int l) {
  uint64_t copy = frame_alloc();
  uint64_t *src = entry_at(table, 0), *dst = entry_at(copy, 0);
  for (int i = 0; i < 512; i++) {
    uint64_t e = src[i];
    if (e & PTE_P) {
      if (l == 1 || (e & PTE_PS)) { e &= ~PTE_RW; src[i] = e; refs[(e & ADDR) >> 12]++; }
      else e = fork_table(e & ADDR, l - 1) | (e & ~ADDR);
    }
    dst[i] = e;
  }
  return copy;
}
/* W4: drops every leaf reference of the tree under `table` and frees its tables. */
static void free_table(uint64_t table, int l) {
  uint64_t *src = entry_at(table, 0);
  for (int i = 0; i < 512; i++) {
    uint64_t e = src[i];
    if (!(e & PTE_P)) continue;
    if (l == 1 || (e & PTE_PS)) frame_put(e & ADDR);
    else free_table(e & ADDR, l - 1);
  }
  frame_put(table);
}
/* Untimed check of a fork: tables in the tree, and how many leaves are write-protected. */
static void count_tree(uint64_t table, int l, uint32_t *tables, uint32_t *readonly) {
  ++*tables;
  for (int i = 0; i < 512; i++) {
    uint64_t e = *entry_at(table, i);
    if (!(e & PTE_P)) continue;
    if (l == 1 || (e & PTE_PS)) *readonly += !(e & PTE_RW);
    else count_tree(e & ADDR, l - 1, tables, readonly);
  }
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Checksum of the stream itself (u32 sums of the addresses' low and high words), so that a
 * different virtual layout cannot hide behind equal physical addresses. */
static uint32_t va_lo, va_hi;
static void sum_stream(const uint64_t *va, uint32_t n) {
  va_lo = va_hi = 0;
  for (uint32_t i = 0; i < n; i++) { va_lo += (uint32_t)va[i]; va_hi += (uint32_t)(va[i] >> 32); }
}

static void print_sums(const char *w, int rep, double ms, uint32_t n, sums_t s) {
  printf("{\"impl\":\"%s\",\"levels\":%d,\"w\":\"%s\",\"rep\":%d,\"ms\":%.4f,\"ns\":%.4f,\"cs\":\"%08x:%08x\",\"faults\":%u,\"va\":\"%08x:%08x\"}\n",
         IMPL, levels, w, rep, ms, ms * 1e6 / n, s.lo, s.frames, s.faults, va_lo, va_hi);
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: %s LEVELS(2..5) REPS N W1,W2,W3\n", argv[0]); return 1; }
  levels = atoi(argv[1]);
  int reps = atoi(argv[2]);
  uint32_t n = (uint32_t)strtoul(argv[3], 0, 10);
  const char *which = argv[4];
  if (levels < 2 || levels > 5 || reps < 1 || n < 1) { fprintf(stderr, "bad arguments\n"); return 1; }
  if (levels == 2 && strcmp(which, "W2")) { fprintf(stderr, "32-bit paging (LEVELS 2): W2 only\n"); return 1; }
  ram = calloc(RAM_BYTES, 1);
  refs = calloc(RAM_BYTES >> 12, 4);
  freed = calloc(RAM_BYTES >> 12, 4);
  uint64_t *va = malloc((size_t)n * 8);
  if (!ram || !refs || !freed || !va) { fprintf(stderr, "out of memory\n"); return 1; }
  bump = FIRST_FRAME;
  uint32_t tables = 0, ro = 0;
  if (levels == 2) tables = build32();
  else {
    build();
    count_tree(root, levels, &tables, &ro);
  }
  printf("{\"impl\":\"%s\",\"levels\":%d,\"ev\":\"build\",\"tables\":%u,\"root\":%llu,\"frames\":%u}\n",
         IMPL, levels, tables, (unsigned long long)root, bump);

  if (strstr(which, "W1")) {
    /* 256 hot pages, each in a slot of its own; their translations enter the TLB by walks. */
    for (unsigned i = 0; i < TLB_SLOTS; i++) tlb[i].tag = ~0ULL;
    uint64_t hot[HOT_PAGES];
    rng = SEED_HOT;
    for (unsigned h = 0; h < HOT_PAGES;) {
      uint64_t p = page_va(next_random() >> 14);
      if (tlb[(p >> 12) & (TLB_SLOTS - 1)].tag != ~0ULL) continue;
      tlb_translate(p);
      hot[h++] = p;
    }
    for (uint32_t i = 0; i < n; i++) { uint32_t r = next_random(); va[i] = hot[r >> 24] + (r & 0xfff); }
    sum_stream(va, n);
    for (int rep = 0; rep < reps; rep++) {
      double t0 = now_ms(); sums_t s = run_w1(va, n); double t1 = now_ms();
      print_sums("W1", rep, t1 - t0, n, s);
    }
  }
  if (strstr(which, "W2")) {
    rng = SEED_WALK;
    for (uint32_t i = 0; i < n; i++) { uint32_t r = next_random(); va[i] = page_va(r >> 14) + (r & 0xfff); }
    sum_stream(va, n);
    for (int rep = 0; rep < reps; rep++) {
      double t0 = now_ms(); sums_t s = run_w2(va, n); double t1 = now_ms();
      print_sums("W2", rep, t1 - t0, n, s);
    }
  }
  if (strstr(which, "W3")) {
    for (int rep = 0; rep < reps; rep++) {
      double t0 = now_ms(); uint64_t child = fork_table(root, levels); double t1 = now_ms();
      uint32_t ct = 0, cro = 0;
      count_tree(child, levels, &ct, &cro);
      double t2 = now_ms(); free_table(child, levels); double t3 = now_ms();
      printf("{\"impl\":\"%s\",\"levels\":%d,\"w\":\"W3\",\"rep\":%d,\"ms\":%.4f,\"tables\":%u,\"readonly\":%u}\n",
             IMPL, levels, rep, t1 - t0, ct, cro);
      printf("{\"impl\":\"%s\",\"levels\":%d,\"w\":\"W4\",\"rep\":%d,\"ms\":%.4f,\"free\":%u}\n",
             IMPL, levels, rep, t3 - t2, nfreed);
    }
  }
  return 0;
}
