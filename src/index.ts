export { Machine } from "./machine/machine.js";
export type {
  Access, Fault, GeneralProtection, MachineOptions, MachineStats, Mapping, PageFault, PagingMode,
  Range, Registers, Translation,
} from "./machine/machine.js";
export { StateError } from "./errors.js";
export * from "./x86.js";
