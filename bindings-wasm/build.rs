//! Lists every file of `tests/vectors/{session,challenge}/` for the wasm-bindgen tests,
//! which run in Node and in a browser and so cannot read the file system: the test
//! includes the generated `vectors.rs`, one `include_str!` and one test function per
//! file. A new vector file is picked up without touching the test.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let vectors = Path::new(&manifest).join("../tests/vectors");
    let mut out = String::new();
    for (constant, folder) in [("SESSION", "session"), ("CHALLENGE", "challenge")] {
        let dir = vectors.join(folder);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .filter(|p| !p.to_string_lossy().ends_with(".schema.json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        // One test per file, so that each vector passes or fails on its own.
        for f in &files {
            let stem = f
                .file_stem()
                .map(|n| {
                    n.to_string_lossy()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "#[wasm_bindgen_test::wasm_bindgen_test]\nfn {folder}_{stem}() {{ super::check_{folder}_file({:?}, include_str!({:?})); }}",
                f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                f.display().to_string()
            );
        }
        let _ = writeln!(out, "/// Every `{folder}` vector: file name and text.");
        let _ = writeln!(out, "pub const {constant}: &[(&str, &str)] = &[");
        for f in &files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
            let _ = writeln!(
                out,
                "    ({:?}, include_str!({:?})),",
                name.unwrap_or_default(),
                f.display().to_string()
            );
        }
        let _ = writeln!(out, "];");
    }
    let dest =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("vectors.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
