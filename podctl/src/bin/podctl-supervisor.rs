//! `podctl-supervisor --root ROOT UID`: the per-pod supervisor, started by
//! `podctl run` and `podctl recover`, never by hand.
//!
//! It is a binary of its own, not a subcommand of `podctl`, because one runs
//! for every pod for as long as the pod lives: it links only what supervising
//! needs (no argument parser, manifest reader or table printer) and is linked
//! statically and without PIE (see `build.rs`), so neither its read-only
//! data nor a loader's and libraries' bookkeeping is copied into each.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::process::ExitCode;

use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::filter::{LevelFilter, Targets};

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
    let _ = tracing::subscriber::set_global_default(Lines {
        targets: targets(level),
        level,
    });
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

/// The supervisor's log: one line per event on stderr (its log file),
/// `<time> <LEVEL> <target>: <message> <field>=<value>...`, as
/// tracing-subscriber's `fmt` writes them; spans are not kept.
///
/// Not `fmt` itself: it stands on tracing-subscriber's span registry, whose
/// table of shards is a 32 kB allocation every supervisor wrote and kept
/// (one per pod), for spans no code here makes.
struct Lines {
    targets: Targets,
    level: LevelFilter,
}

impl tracing::Subscriber for Lines {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        self.targets
            .would_enable(metadata.target(), metadata.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let metadata = event.metadata();
        let mut line = format!(
            "{} {:>5} {}:",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            metadata.level(),
            metadata.target()
        );
        let mut fields = Fields::default();
        event.record(&mut fields);
        line.push_str(&fields.message);
        line.push_str(&fields.others);
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// An event's message, and its other fields as ` name=value`.
#[derive(Default)]
struct Fields {
    message: String,
    others: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = if field.name() == "message" {
            write!(self.message, " {value:?}")
        } else {
            write!(self.others, " {}={value:?}", field.name())
        };
    }
}
