// The package's entry points name files the build really produces, and load by name in Node;
// the tarball `npm pack` makes installs into an empty project, imports, type-checks and runs
// there, and its CLI starts.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = new URL("../", import.meta.url);
const ROOT = fileURLToPath(root);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));

it("main, types and exports point at built files", () => {
  const paths = [pkg.main, pkg.types, pkg.exports["."].import, pkg.exports["."].types, pkg.exports["./build/release.wasm"]];
  for (const p of paths) expect(existsSync(new URL(p, root)), p).toBe(true);
});

it("the package loads by its own name (ESM self-reference)", () => {
  // In a plain Node process at the package root: `import("wasm-mmu")` resolves through the
  // package's own "exports", as a user's import does (vitest would resolve it its own way).
  const script = `const m = await (await import("wasm-mmu")).Machine.create({ ramBytes: 1 << 20 });
    const t = m.translate(0x1234n); console.log(typeof t.pa === "bigint" ? t.pa.toString(16) : "fault");`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
  expect(out).toBe("1234\n");
});

it("every module the package index loads imports only relative paths (so it loads in a browser)", () => {
  const seen = new Set<string>();
  const bare: string[] = [];
  const visit = (url: URL): void => {
    if (seen.has(url.href)) return;
    seen.add(url.href);
    const src = readFileSync(url, "utf8");
    // Static imports and re-exports; dynamic import() of node: built-ins inside functions is fine.
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (spec.startsWith("./") || spec.startsWith("../")) visit(new URL(spec, url));
      else bare.push(`${url.pathname.slice(url.pathname.indexOf("/dist/"))}: ${spec}`);
    }
  };
  visit(new URL(pkg.exports["."].import, root));
  expect(bare).toEqual([]);
  expect(seen.size).toBeGreaterThan(5);
});

/** A consumer's program: a 4-level walk on a Machine, a fork/exit on a Kernel, printed as JSON. */
const CONSUMER = `import { Kernel, Machine, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type Translation } from "wasm-mmu";

const m = await Machine.create({ ramBytes: 1 << 20 });
const dv = new DataView(m.ram.buffer, m.ram.byteOffset);
dv.setBigUint64(0x1000, 0x2000n | 7n, true); // PML4 -> PDPT: P | RW | US
dv.setBigUint64(0x2000, 0x3000n | 7n, true); // PDPT -> PD
dv.setBigUint64(0x3000, 0x4000n | 7n, true); // PD -> PT
dv.setBigUint64(0x4000 + 8 * 0x10, 0x9000n | 5n, true); // 0x10000 -> 0x9000, read-only
const gp = m.setRegisters({ cr3: 0x1000n, cr4: 0x20n, efer: 0x100n, cr0: 0x80010001n });
const walk = m.translate(0x10123n);
const t: Translation | null = walk.fault ? null : walk;
const denied = m.translate(0x10123n, { write: true, user: true });

const k = await Kernel.create({ design: "x86_64-4level", ramBytes: 64 << 20 });
const free = k.stats().freeFrames;
const p = k.spawn();
const a = p.mmap({ length: 1 << 20, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
p.write(a, new TextEncoder().encode("hello"));
const c = p.fork();
c.write(a, new TextEncoder().encode("HELLO"));
const text = [new TextDecoder().decode(p.read(a, 5)), new TextDecoder().decode(c.read(a, 5))];
c.exit();
p.exit();
const s = k.stats();
console.log(JSON.stringify({
  gp, mode: m.mode, pa: t?.pa.toString(16), memRefs: t?.memRefs, denied: denied.fault,
  text, tables: [s.tablePagesAllocated, s.tablePagesFreed], allFree: s.freeFrames === free,
}));
`;

/** Runs a command with the environment of a user's shell (no npm_* variables of this test run). */
function sh(cmd: string, args: string[], cwd: string) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  const r = spawnSync(cmd, args, { cwd, env: { ...env, NO_COLOR: "1" }, encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: `${cmd} ${args.join(" ")}\n${r.stdout}${r.stderr}` };
}

it("npm pack's tarball installs into an empty project, imports (ESM), type-checks, runs, and its CLI starts", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "wasm-mmu-pack-"));
  try {
    const packed = sh("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], ROOT);
    expect(packed.status, packed.out).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const paths = files.map((f) => f.path);
    expect(paths).toContain("build/release.wasm");
    expect(paths).toContain("dist/cli/main.js");
    expect(paths.filter((p) => p.startsWith("test/") || p.startsWith("node_modules/"))).toEqual([]);

    const app = join(dir, "app");
    execFileSync("mkdir", [app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const install = sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, filename), `@types/node@${pkg.devDependencies["@types/node"]}`], app);
    expect(install.status, install.out).toBe(0);

    writeFileSync(join(app, "consumer.ts"), CONSUMER);
    // Passing a number where the API takes a bigint must not type-check: the types are real.
    writeFileSync(join(app, "wrong.ts"), `import { Machine } from "wasm-mmu";\nconst m = await Machine.create({ ramBytes: 1 << 20 });\nm.translate(0x1000);\n`);
    // lib DOM: the declarations name WebAssembly.Module and BufferSource, which @types/node lacks.
    const tsconfig = (files: string[]) => JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], types: ["node"], strict: true, skipLibCheck: false, outDir: "out" },
      files,
    });
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    writeFileSync(join(app, "tsconfig.json"), tsconfig(["consumer.ts"]));
    const good = sh(process.execPath, [tsc, "-p", "."], app);
    expect(good.status, good.out).toBe(0);
    writeFileSync(join(app, "tsconfig.json"), tsconfig(["wrong.ts"]));
    const bad = sh(process.execPath, [tsc, "-p", ".", "--noEmit"], app);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/wrong\.ts\(3,13\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'bigint'/);

    const run = sh(process.execPath, [join("out", "consumer.js")], app);
    expect(run.status, run.out).toBe(0);
    const r = JSON.parse(run.stdout) as { gp: unknown; mode: string; pa: string; memRefs: number; denied: string; text: string[]; tables: number[]; allFree: boolean };
    expect(r).toMatchObject({ gp: null, mode: "4-level", pa: "9123", memRefs: 4, denied: "page", text: ["hello", "HELLO"], allFree: true });
    expect(r.tables[0]).toBeGreaterThan(0);
    expect(r.tables[0]).toBe(r.tables[1]);

    const help = sh("npx", ["wasm-mmu", "--help"], app);
    expect(help.status, help.out).toBe(0);
    expect(help.stderr).toBe("");
    expect(help.stdout).toMatch(/^Usage: wasm-mmu /);
    for (const command of ["compare", "ptdump", "replay"]) expect(help.stdout).toContain(command);
    const dump = sh("npx", ["wasm-mmu", "ptdump", "--design", "x86_64-4level", "--ram-mib", "16"], app);
    expect(dump.status, dump.out).toBe(0);
    expect(dump.stdout).toMatch(/^---\[ User Space \]---$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
