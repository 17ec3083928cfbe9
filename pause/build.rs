//! Link pause without libc or start files: it provides its own `_start`.

fn main() {
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        // No build-id note and no page-aligned segment padding: both only add bytes.
        "-Wl,--build-id=none",
        "-Wl,-n",
        "-Wl,--gc-sections",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
