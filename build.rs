//! Writes `include/microcoaster_realtime.h` from `src/ffi/` with cbindgen, only when its
//! content changes (so the checked-in header's mtime stays put). `scripts/test` fails if
//! the checked-in copy differs from a fresh generation.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&root);
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    // cbindgen follows the `mod` declarations of src/ffi/mod.rs into every file there.
    let builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"));
    let bindings = builder.generate().expect("cbindgen can parse src/ffi");
    let mut text = Vec::new();
    bindings.write(&mut text);
    let header = root.join("include/microcoaster_realtime.h");
    if std::fs::read(&header).ok().as_deref() != Some(text.as_slice())
        && let Err(error) = std::fs::create_dir_all(root.join("include"))
            .and_then(|()| std::fs::write(&header, &text))
    {
        println!("cargo:warning=cannot write {}: {error}", header.display());
    }
}
