//! `cargo xtask`: the project's automation, driving cargo and the built
//! binaries as processes (std only, so it compiles in a second).
//!
//! - `setup`: install the Debian packages the project needs, when missing;
//! - `pause`: build the static pause binary;
//! - `images`: build `target/images/busybox` and `target/images/pause`;
//! - `e2e`: build pause, podctl and the images, then run the `tests` crate;
//! - `test`: everything CI runs: formatting, clippy, unit tests and e2e;
//! - `bench [pause]`: measurements against the peers;
//! - `demo`: the main job on a fresh machine.

mod bench;
mod build;
mod peers;
mod pull_bench;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => build::setup(),
        Some("pause") => build::pause().map(|_| ()),
        Some("images") => build::images(),
        Some("e2e") => build::e2e(&args[1..]),
        Some("test") => build::test_all(),
        Some("bench") => bench::run(args.get(1).map(String::as_str).unwrap_or("all")),
        Some("demo") => build::demo(),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|pause|images|e2e [TEST FILTER]|test|bench [pause|start|memory|density|pull|all]|demo>\n\
                 \n  test   everything CI runs (fmt, clippy, unit, end-to-end)\n  demo   the main job: build and run a real pod"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
