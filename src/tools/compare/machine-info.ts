// What a benchmark figure was measured on, printed with every table and stored in every report.
import os from "node:os";

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  os: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() || "unknown",
    cores: cpus.length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/** One line: "Intel(R) Xeon(R) ... x 2 cores, Node v20.20.0, Linux 6.1 x64, 2026-11-22 01:02 UTC". */
export function describeMachine(m: MachineInfo, date: Date): string {
  const when = date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  return `${m.cpu} x ${m.cores} cores, Node ${m.node}, ${m.os}, ${when}`;
}
