//! Where the embedded data (blueprints, environment defaults, policies) is
//! read from at compile time. In the workspace it sits beside this crate; in
//! a packaged crate, `cargo package` has copied it under `data/` (whose
//! entries are symlinks to the workspace's folders, and which a checkout
//! without symlinks, e.g. on Windows, leaves as plain files).
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest.join("..");
    let root = if is_data(&workspace) {
        workspace
    } else {
        manifest.join("data")
    };
    let root = root.canonicalize().unwrap_or(root);
    // include_dir cannot tell cargo about the files it reads: without
    // these, editing a template would not rebuild the binary.
    for dir in ["blueprints", "environments", "policies"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rustc-env=SOCLE_DATA={}", root.display());
}

fn is_data(root: &Path) -> bool {
    root.join("blueprints/platform/blueprint.yaml").is_file()
        && root.join("environments").is_dir()
        && root.join("policies").is_dir()
}
