// The same workloads in Node and in a browser, over the built package (dist/) passed in as
// `mmu`, so that the two runs can be compared value for value. Plain JavaScript: the browser
// loads this file as it is. `files` reads the fixture files: text(path), gunzip(path).

const hex = (v) => v.toString(16);

async function sha256(text) {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Loads a real-kernel capture, lists its mappings, translates its samples with every access. */
export async function fixtureSummary(mmu, files, name) {
  const meta = JSON.parse(await files.text(`${name}/meta.json`));
  const tables = await files.gunzip(`${name}/tables.bin.gz`);
  const view = new DataView(tables.buffer, tables.byteOffset, tables.byteLength);
  const pages = [];
  for (let o = 0; o + 4104 <= tables.byteLength; o += 4104) pages.push([view.getBigUint64(o, true), tables.subarray(o + 8, o + 4104)]);
  const registers = { cr0: BigInt(meta.cr0), cr3: BigInt(meta.cr3), cr4: BigInt(meta.cr4), efer: BigInt(meta.efer), pkru: 0n };
  const m = await mmu.captureMachine({ mode: meta.mode, ramBytes: meta.ram_bytes, registers, pages });
  const maps = m.mappings();
  const mapText = maps.map((x) => `${hex(x.va)} ${hex(x.pa)} ${x.size} ${hex(x.entry)} ${+x.user}${+x.write}${+x.execute}`).join("\n");
  const rangeText = m.ranges().map((r) => `${hex(r.start)}-${hex(r.end)} ${+r.user}${+r.write}`).join("\n");
  const vas = [];
  for (const line of (await files.text(`${name}/gva2gpa.txt`)).split("\n")) {
    const t = /^([0-9a-f]+) /.exec(line.trim());
    if (t) vas.push(BigInt("0x" + t[1]));
  }
  for (let i = 0; i < maps.length; i += 97) vas.push(maps[i].va + BigInt((i * 4099) % maps[i].size));
  const out = [];
  for (const va of vas) {
    for (const access of [{ probe: true }, {}, { write: true }, { user: true }, { user: true, write: true }, { fetch: true }, { ac: true }]) {
      const r = m.translate(va, access);
      out.push(r.fault ? `${hex(va)} ${r.fault} ${r.errorCode ?? ""}` : `${hex(va)} ${hex(r.pa)} ${r.pageSize} ${+r.write}${+r.user}${+r.execute}`);
    }
  }
  // The Accessed and Dirty bits those translations set, in every table page.
  let tableText = "";
  for (const [pa] of pages) tableText += Array.from(m.readPhysical(pa, 4096), (b) => b.toString(16)).join(",");
  return {
    mode: m.mode,
    mappings: maps.length,
    mapHash: await sha256(mapText),
    ranges: await sha256(rangeText),
    translations: out.length,
    translateHash: await sha256(out.join("\n")),
    tableHash: await sha256(tableText),
    stats: m.stats(),
  };
}

/** fork/exit with copy-on-write writes in one design: what each process reads, and the counts. */
export async function kernelWorkload(mmu, design) {
  const k = await mmu.Kernel.create({ design, ramBytes: 16 << 20 });
  const pages = 24;
  const parent = k.spawn();
  const a = parent.mmap({ length: pages * 4096, prot: mmu.PROT_READ | mmu.PROT_WRITE, flags: mmu.MAP_PRIVATE | mmu.MAP_ANONYMOUS });
  for (let i = 0; i < pages; i++) parent.write(a + BigInt(i * 4096 + i), new Uint8Array([i, 0xa0 | (i & 15)]));
  const seen = [];
  let procs = [parent];
  for (let gen = 0; gen < 3; gen++) {
    const next = [];
    for (const p of procs) {
      const c = p.fork();
      c.write(a + BigInt(gen * 4096 * 3), new Uint8Array([0xc0 + gen, p.pid & 0xff]));
      p.write(a + BigInt(gen * 4096 * 3 + 8), new Uint8Array([0xe0 + gen]));
      next.push(p, c);
    }
    procs = next;
  }
  for (const p of procs) {
    const bytes = p.read(a, pages * 4096);
    let sum = 0;
    for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i]) >>> 0;
    seen.push(sum);
  }
  const before = k.stats();
  for (const p of procs) p.exit();
  return { design, seen, before, after: k.stats() };
}
