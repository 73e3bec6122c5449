#![no_main]
// Filled in by the module this target exercises.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
