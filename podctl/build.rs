//! Link the supervisor statically and without PIE.
//!
//! One supervisor runs per pod for the pod's whole life, so what each one
//! holds privately is paid once per pod:
//! - as a PIE, the dynamic loader relocates its read-only data (vtables,
//!   `.data.rel.ro`, the GOT) into private pages of every process, some
//!   hundreds of kB per pod; linked at a fixed address those pages stay
//!   shared page cache. The price is that the supervisor's own code is not
//!   placed at a random address (its heap and stack still are);
//! - dynamically linked, every supervisor also holds the loader's and each
//!   library's relocated data, GOT and bookkeeping (ld.so, libc, libm,
//!   libgcc_s, libseccomp: some 80 kB of private pages per pod). Static,
//!   the supervisor keeps only its own data.
//!
//! `podctl` itself, short-lived, stays dynamically linked (glibc loads the
//! name service modules its registry host lookups need) but is not a PIE
//! either: as one, the loader applied some 36,000 relative relocations
//! before every command, about a millisecond of each `run` and `delete`.
//!
//! Why a folder of linker scripts: rustc links a binary statically only with
//! `-C target-feature=+crt-static`, a flag cargo can give every crate of a
//! build or none (and build scripts and proc-macros must not get it), never
//! one binary. Without it rustc asks for the shared C libraries
//! (`-Bdynamic -lc -lseccomp -lgcc_s ...`). For the supervisor alone, a
//! folder searched first answers each of those names with a linker script
//! naming the static archive, and `-static` makes the C compiler driver use
//! the static start files and no program interpreter.
use std::path::PathBuf;

/// The libraries rustc and the `-sys` crates ask for, and the archives
/// that stand for them in a static link.
const ARCHIVES: &[(&str, &str)] = &[
    ("c", "libc.a"),
    ("m", "libm.a"),
    ("rt", "librt.a"),
    ("pthread", "libpthread.a"),
    ("dl", "libdl.a"),
    ("util", "libutil.a"),
    ("seccomp", "libseccomp.a"),
    // The unwinder and compiler runtime libgcc_s holds.
    ("gcc_s", "libgcc_eh.a libgcc.a"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("static-libs");
    std::fs::create_dir_all(&dir).expect("create the static-libs folder");
    for (name, archives) in ARCHIVES {
        std::fs::write(
            dir.join(format!("lib{name}.so")),
            format!("INPUT({archives})\n"),
        )
        .expect("write a linker script");
    }
    let arg = |arg: &str| println!("cargo:rustc-link-arg-bin=podctl-supervisor={arg}");
    arg(&format!("-L{}", dir.display()));
    arg("-no-pie");
    arg("-static");
    println!("cargo:rustc-link-arg-bin=podctl=-no-pie");
}
