// `npm run bench`: every benchmark suite, with the machine and date the figures come from.
// Timings on a shared machine are noisy (the load average is printed); memory references per
// walk are counted by the walker and exact.
import { machineLine, printWalkRows, walkSuite } from "./walk.bench.js";
import { translateSuite } from "./translate.bench.js";
import { printReplayRows, replaySuite } from "./replay.bench.js";
import { forkExitSuite, printForkExitRows } from "./fork-exit.bench.js";
import { DESIGNS } from "../src/tools/compare/options.js";
import { nativeSuite, printNativeReport } from "./native.bench.js";

console.log(await machineLine());
printWalkRows(await walkSuite());

console.log("\ntranslation cost per path (TLB hits and misses), median ns per translation");
const rows = await translateSuite();
console.table(rows.map((r) => ({ ...r, nsPerTranslation: +r.nsPerTranslation.toFixed(2), memRefsPerWalk: r.memRefsPerWalk?.toFixed(2) ?? "" })));
console.log();
printReplayRows(await replaySuite());
console.log("\nfork and exit (the lmbench and large workloads of wasm-mmu compare), median µs of CPU time");
printForkExitRows(await forkExitSuite([...DESIGNS], false));
console.log(await machineLine());
console.log("\nthe product beside native C and careful JavaScript, same run (issue 10; npm run bench:native alone)");
printNativeReport(await nativeSuite());
console.log(await machineLine());
