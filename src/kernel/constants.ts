// Linux's numeric constants for mmap/mprotect (include/uapi/asm-generic/mman-common.h,
// arch/x86/include/uapi/asm/mman.h) and the kernel's error type.

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;
/** Back the mapping with large pages (2 MiB; 4 MiB on i386-2level), split when cut. */
export const MAP_HUGETLB = 0x40000;

export type KernelErrorCode = "ENOMEM" | "EINVAL" | "EFAULT" | "ESRCH";

/** A system call's failure, as Node reports system errors: `code` names the errno. */
export class KernelError extends Error {
  override name = "KernelError";
  readonly code: KernelErrorCode;
  constructor(code: KernelErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}
