//! Puts `memory.x` where the linker finds it (cortex-m-rt's `link.x` includes it), and
//! embeds every session vector of `tests/vectors/session/` in the firmware: a generated
//! table of `(name, include_str!(path))`, so a vector added to the folder is replayed
//! on the target without touching this crate.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );

    std::fs::copy(manifest.join("memory.x"), out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let dir = manifest.join("../../tests/vectors/session");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut table = String::from(
        "/// Every session vector, `(file stem, JSON text)`, sorted by name.\n\
         pub static SESSION_VECTORS: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("vector file names are UTF-8");
        let abs = path.canonicalize().expect("vector path resolves");
        writeln!(
            table,
            "    ({stem:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    table.push_str("];\n");
    std::fs::write(out.join("vectors.rs"), table).expect("write vectors.rs");
}
