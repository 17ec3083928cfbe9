//! `podctl logs POD [-c CONTAINER] [-f] [-p]`: a container's log; with `-f`
//! followed by offset as it grows, on across its restarts, until the
//! container has ended for good.

use std::io::{BufWriter, StdoutLock, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use podcore::logs::{Follower, RunsFollower, Start};
use podcore::status::{ContainerState, Phase};

use crate::error::CliError;
use crate::pods::{self, Pod};

/// How often `-f` looks for more.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// `podctl logs` arguments.
#[derive(clap::Args)]
pub struct LogsArgs {
    pod: String,
    /// The container (default: the only one, or the first app container).
    #[arg(short, long)]
    container: Option<String>,
    /// Keep printing as the container writes, on across its restarts.
    #[arg(short, long)]
    follow: bool,
    /// The previous run of a restarted container.
    #[arg(short, long)]
    previous: bool,
    /// Prefix each line with its RFC 3339 time.
    #[arg(long)]
    timestamps: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<usize>,
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

/// Prints log lines as the user asked.
struct Printer {
    out: BufWriter<StdoutLock<'static>>,
    timestamps: bool,
}

impl Printer {
    fn line(&mut self, time: DateTime<Utc>, line: &str) -> std::io::Result<()> {
        if self.timestamps {
            let time = time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            writeln!(self.out, "{time} {line}")
        } else {
            writeln!(self.out, "{line}")
        }
    }
}

/// `podctl logs`.
pub fn run(root: &Path, args: LogsArgs) -> anyhow::Result<()> {
    let pod = Pod::find(root, &args.namespace, &args.pod)?;
    let container = pod.pick_container(args.container.as_deref())?;
    let restarts = pod.container(&container).map_or(0, |c| c.restart_count);
    let run = if args.previous {
        restarts.checked_sub(1).ok_or_else(|| {
            CliError::NotFound(format!(
                "previous terminated container {container:?} in pod {:?} not found",
                args.pod
            ))
        })?
    } else {
        restarts
    };
    let start = args.tail.map_or(Start::Beginning, Start::Tail);
    let mut printer = Printer {
        out: BufWriter::new(std::io::stdout().lock()),
        timestamps: args.timestamps,
    };
    let dir = pod.paths.logs(&container);
    let what = || format!("read the logs in {}", dir.display());
    if !args.follow || args.previous {
        let file = podcore::logs::run_file(&dir, run);
        let printed = Follower::new(&file, start).poll(|time, line| printer.line(time, line));
        done(printed.and_then(|()| printer.out.flush())).with_context(what)?;
        return Ok(());
    }
    let mut follower = RunsFollower::new(&dir, run, start);
    loop {
        let printed = follower.poll(|time, line| printer.line(time, line));
        if done(printed.and_then(|()| printer.out.flush())).with_context(what)? {
            return Ok(());
        }
        if ended(&pod.paths, &container) {
            // What it wrote before it ended, then done.
            let printed = follower.poll(|time, line| printer.line(time, line));
            done(printed.and_then(|()| printer.out.flush())).with_context(what)?;
            return Ok(());
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// Whether printing is over: true when the reader went away (`logs | head`).
fn done(printed: std::io::Result<()>) -> std::io::Result<bool> {
    match printed {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(e),
    }
}

/// Whether a container will write no more: it ended without a restart to
/// come, or its pod has ended or is gone.
fn ended(paths: &podcore::pod::PodPaths, container: &str) -> bool {
    let Some(status) = pods::status_of(paths) else {
        return true;
    };
    if status.phase.is_terminal() || status.phase == Phase::Unknown {
        return true;
    }
    status
        .container(container)
        .is_none_or(|c| matches!(c.state, ContainerState::Terminated(_)))
}
