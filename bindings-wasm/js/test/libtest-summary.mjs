// A node:test reporter that ends the run with libtest's summary line, so that
// `cargo xtask ci` counts JavaScript tests like Rust ones:
//   test result: ok. N passed; M failed; S ignored; 0 measured; 0 filtered out
// Only leaf tests count: not the suites, files or tests that hold subtests (their
// children are reported before them, one nesting level deeper).
export default async function* libtestSummary(source) {
  let passed = 0;
  let failed = 0;
  let ignored = 0;
  const hadChildren = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { nesting = 0, skip, todo, details } = event.data;
    const leaf = !hadChildren[nesting + 1] && details?.type !== "suite";
    hadChildren[nesting + 1] = false;
    hadChildren[nesting] = true;
    if (!leaf) continue;
    if (skip || todo) ignored++;
    else if (event.type === "test:pass") passed++;
    else failed++;
  }
  const verdict = failed === 0 ? "ok" : "FAILED";
  yield `test result: ${verdict}. ${passed} passed; ${failed} failed; ${ignored} ignored; 0 measured; 0 filtered out\n`;
}
