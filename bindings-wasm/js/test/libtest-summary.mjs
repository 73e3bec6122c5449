// A node:test reporter that ends the run with libtest's summary line, so that
// `cargo xtask ci` counts JavaScript tests like Rust ones:
//   test result: ok. N passed; M failed; S ignored; 0 measured; 0 filtered out
// Only tests count, not the suites or files that hold them.
export default async function* libtestSummary(source) {
  let passed = 0;
  let failed = 0;
  let ignored = 0;
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const data = event.data;
    if (data.details?.type === "suite") continue;
    // With process isolation each file is reported as a test of its own at nesting 0
    // (its file name), wrapping the real ones.
    if (data.nesting === 0 && data.file && data.name === data.file) continue;
    if (data.skip || data.todo) ignored++;
    else if (event.type === "test:pass") passed++;
    else failed++;
  }
  const verdict = failed === 0 ? "ok" : "FAILED";
  yield `test result: ${verdict}. ${passed} passed; ${failed} failed; ${ignored} ignored; 0 measured; 0 filtered out\n`;
}
