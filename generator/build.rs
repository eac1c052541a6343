// The blueprints and environment defaults are embedded with include_dir, which
// cannot tell cargo about the files it reads: without this, editing a template
// would not rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=../blueprints");
    println!("cargo:rerun-if-changed=../environments");
    println!("cargo:rerun-if-changed=../policies");
}
