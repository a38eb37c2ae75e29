// A process's virtual memory areas: a sorted list of disjoint [start, end) ranges with their
// protection and sharing, and the searches mmap needs. Per system call, not per page.

export interface Vma {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  prot: number;
  shared: boolean;
  /** Backed by 2 MiB pages (MAP_HUGETLB). */
  huge: boolean;
}

export class VmaList {
  readonly list: Vma[] = [];

  clone(): VmaList {
    const c = new VmaList();
    for (const v of this.list) c.list.push({ ...v });
    return c;
  }

  /** Index of the first area ending above addr (list.length if none). */
  indexAbove(addr: bigint): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.list[mid]!.end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The area containing addr. */
  find(addr: bigint): Vma | undefined {
    const v = this.list[this.indexAbove(addr)];
    return v && v.start <= addr ? v : undefined;
  }

  /** True if no area meets [start, end). */
  isFree(start: bigint, end: bigint): boolean {
    const v = this.list[this.indexAbove(start)];
    return !v || v.start >= end;
  }

  /** Areas meeting [start, end), in order. */
  overlapping(start: bigint, end: bigint): Vma[] {
    const out: Vma[] = [];
    for (let i = this.indexAbove(start); i < this.list.length && this.list[i]!.start < end; i++) out.push(this.list[i]!);
    return out;
  }

  /** True if [start, end) is covered by areas with no hole. */
  covers(start: bigint, end: bigint): boolean {
    let at = start;
    for (const v of this.overlapping(start, end)) {
      if (v.start > at) return false;
      at = v.end;
    }
    return at >= end;
  }

  /** Splits the area containing addr in two at addr (split_vma). */
  splitAt(addr: bigint): void {
    const i = this.indexAbove(addr);
    const v = this.list[i];
    if (!v || v.start >= addr) return;
    this.list.splice(i + 1, 0, { ...v, start: addr });
    v.end = addr;
  }

  /** Removes every area inside [start, end) (split at the ends first). */
  remove(start: bigint, end: bigint): void {
    const i = this.indexAbove(start);
    let j = i;
    while (j < this.list.length && this.list[j]!.end <= end && this.list[j]!.start >= start) j++;
    this.list.splice(i, j - i);
  }

  /** End of the last area below addr (0n if none): the floor for freeing page tables. */
  floorBelow(addr: bigint): bigint {
    const i = this.indexAbove(addr) - 1;
    return i >= 0 && this.list[i]!.end <= addr ? this.list[i]!.end : 0n;
  }

  /** Start of the first area at or above addr (0n = top of the address space if none). */
  ceilingAbove(addr: bigint): bigint {
    const v = this.list[this.indexAbove(addr)];
    return v ? v.start : 0n;
  }

  /** Inserts an area into a free range, merging with equal neighbours (vma_merge). */
  insert(vma: Vma): void {
    const i = this.indexAbove(vma.start);
    this.list.splice(i, 0, vma);
    this.mergeAround(i);
  }

  /** Merges every pair of equal touching neighbours. */
  mergeAll(): void {
    for (let i = this.list.length - 1; i > 0; i--) this.mergeAround(i);
  }

  /** Merges the area at i with equal touching neighbours. */
  mergeAround(i: number): void {
    const same = (a: Vma, b: Vma) => a.end === b.start && a.prot === b.prot && a.shared === b.shared && a.huge === b.huge;
    const next = this.list[i + 1];
    if (next && same(this.list[i]!, next)) {
      this.list[i]!.end = next.end;
      this.list.splice(i + 1, 1);
    }
    const prev = this.list[i - 1];
    if (prev && same(prev, this.list[i]!)) {
      prev.end = this.list[i]!.end;
      this.list.splice(i, 1);
    }
  }

  /**
   * Highest free range of `length` bytes ending at or below `high` and starting at or above
   * `low`, aligned to `align` (vm_unmapped_area top-down); undefined if none.
   */
  topDown(length: bigint, low: bigint, high: bigint, align: bigint): bigint | undefined {
    let i = this.indexAbove(high);
    let gapEnd = high;
    const straddle = this.list[i];
    if (straddle && straddle.start < gapEnd) gapEnd = straddle.start;
    for (i--; ; i--) {
      const v = i >= 0 ? this.list[i] : undefined;
      const gapStart = v && v.end > low ? v.end : low;
      if (gapEnd >= length) {
        const start = (gapEnd - length) & ~(align - 1n);
        if (start >= gapStart) return start;
      }
      if (!v || v.start <= low) return undefined;
      gapEnd = v.start;
    }
  }
}
