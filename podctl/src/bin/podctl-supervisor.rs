//! `podctl-supervisor --root ROOT UID`: the per-pod supervisor, started by
//! `podctl run` and `podctl recover`, never by hand.
//!
//! It is a binary of its own, not a subcommand of `podctl`, because one runs
//! for every pod for as long as the pod lives: it links only what supervising
//! needs (no argument parser, manifest reader or table printer) and is linked
//! without PIE, so its read-only data needs no relocation and stays shared
//! between all supervisors instead of being copied into each.

use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The environment variable through which `podctl run` hands over the
/// readiness pipe's write end.
const READY_FD: &str = "PODCTL_READY_FD";
/// The environment variable that sets how much the supervisor logs
/// (`warn`, `info`, `debug` or `trace`); `podctl -v` sets it to `debug`.
const LOG_LEVEL: &str = "PODCTL_SUPERVISOR_LOG";

/// What the supervisor logs at `level`: up to `-v` (debug), libcontainer's
/// chatter is held to its notable lines and libcgroups' to its errors (it
/// warns of every controller the host lacks); `-vv` (trace) shows it all.
fn targets(level: LevelFilter) -> Targets {
    let (libcontainer, libcgroups) = if level >= LevelFilter::TRACE {
        (level, level)
    } else {
        (level.min(LevelFilter::INFO), level.min(LevelFilter::ERROR))
    };
    Targets::new()
        .with_default(level)
        .with_target("libcontainer", libcontainer)
        .with_target("libcgroups", libcgroups)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (root, uid) = match (args.next(), args.next(), args.next(), args.next()) {
        (Some(flag), Some(root), Some(uid), None) if flag == "--root" => {
            (PathBuf::from(root), uid.to_string_lossy().into_owned())
        }
        _ => {
            eprintln!(
                "usage: podctl-supervisor --root ROOT UID (started by podctl run, not by hand)"
            );
            return ExitCode::from(2);
        }
    };
    let level = std::env::var(LOG_LEVEL)
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(targets(level)),
        )
        .init();
    let handed = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|fd| fd.parse::<i32>().ok())
            .map(|fd| {
                // SAFETY: podctl run passed this fd, open and owned by nobody else here.
                unsafe { std::fs::File::from_raw_fd(fd) }
            })
    };
    let ready = handed(READY_FD);
    let network_made = handed(podcore::supervisor::NETWORK_MADE_FD);
    let record = handed(podcore::supervisor::RECORD_FD);
    // SAFETY: called before any thread exists.
    unsafe {
        std::env::remove_var(READY_FD);
        std::env::remove_var(podcore::supervisor::NETWORK_MADE_FD);
        std::env::remove_var(podcore::supervisor::RECORD_FD);
        std::env::remove_var(LOG_LEVEL);
    }
    match podcore::supervisor::run(&root, &uid, ready, network_made, record) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "error: supervise pod: {}",
                podcore::supervisor::chain(&error)
            );
            ExitCode::FAILURE
        }
    }
}
