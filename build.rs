//! Generates the C header from `src/ffi/` with cbindgen and fails the build when the committed
//! `include/agdiag.h` is stale, so a changed ABI cannot ship with an old header.
//! Regenerate with: AGDIAG_UPDATE_HEADER=1 cargo build

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/agdiag.h");
    println!("cargo:rerun-if-env-changed=AGDIAG_UPDATE_HEADER");

    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&crate_dir);
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);

    let header = root.join("include/agdiag.h");
    let committed = std::fs::read(&header).ok();
    let update = std::env::var_os("AGDIAG_UPDATE_HEADER").is_some_and(|v| v == "1");
    match committed {
        Some(existing) if existing == generated => {}
        Some(_) if !update => panic!(
            "include/agdiag.h is stale: the C ABI in src/ffi/ changed. Regenerate it with \
             `AGDIAG_UPDATE_HEADER=1 cargo build` and commit the new header."
        ),
        _ => {
            std::fs::create_dir_all(root.join("include")).expect("create include/");
            std::fs::write(&header, &generated).expect("write include/agdiag.h");
        }
    }
}
