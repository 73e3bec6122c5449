//! Give the shared library the name it is installed under (`cargo xtask c-package`
//! installs `libbearerflow_c.so` as `libbearerflow.so`), so that programs linked with
//! `-lbearerflow` record that name and find it at run time.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbearerflow.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
