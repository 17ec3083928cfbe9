//! Starting a pod's supervisor (`podctl-supervisor`) for `run` and
//! `recover`, and waiting for its word that the pod started or failed.

use std::io::BufRead;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use podcore::control;
use podcore::pod::{PodPaths, PodRecord};
use podcore::runtime::RecordWrite;
use podcore::supervisor;

/// The environment variable carrying the readiness pipe's fd to the supervisor.
const READY_FD: &str = "PODCTL_READY_FD";
/// How much the supervisor logs to `supervisor.log` (read by podctl-supervisor).
const SUPERVISOR_LOG: &str = "PODCTL_SUPERVISOR_LOG";

/// The supervisor binary: `PODCTL_SUPERVISOR`, else `podctl-supervisor` beside
/// this binary (both are built and installed together).
pub fn supervisor_binary() -> anyhow::Result<std::path::PathBuf> {
    let path = match std::env::var_os("PODCTL_SUPERVISOR") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::current_exe()
            .context("find podctl's own binary")?
            .with_file_name(supervisor::SUPERVISOR_BINARY),
    };
    if !path.is_file() {
        bail!(
            "the pod supervisor {} is missing: install podctl-supervisor beside podctl \
             (cargo build builds both) or name it in PODCTL_SUPERVISOR",
            path.display()
        );
    }
    Ok(path)
}

/// The supervisor logs what this process would log: warnings, or with `-v`
/// every step of starting the pod and how long it took.
fn supervisor_log_level() -> String {
    tracing::level_filters::LevelFilter::current().to_string()
}

/// Mark every descriptor above stderr close-on-exec, in the child between
/// fork and exec: the supervisor outlives this command by the pod's life,
/// and must not hold what the caller left open without close-on-exec (a
/// shell's `exec 7>file`, a pipe whose reader waits for its end, a lock), as
/// conmon and containerd's shims close theirs. The descriptors it is handed
/// are marked inheritable again after this. Where close_range(2) is missing
/// (Linux before 5.11) each descriptor up to the soft limit is marked.
fn inherit_nothing_else() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets descriptor flags.
    let marked = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_close_range,
            3u32,
            u32::MAX,
            nix::libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if marked {
        return;
    }
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft.min(1 << 20));
    for fd in 3..limit as i32 {
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
}

/// Start the pod's supervisor (`podctl-supervisor`, installed beside podctl)
/// detached in its own session, and wait until it reports the pod started or
/// failed. With `network`, the supervisor starts (and creates pause) while
/// `network` makes the pod's network here; its containers wait for word of
/// it, and if it fails the pod is taken apart and its error returned. With
/// `-v` the supervisor logs each step and its time to `supervisor.log`,
/// which is then copied to stderr.
pub fn start_supervisor(
    root: &Path,
    record: &PodRecord,
    exe: &Path,
    recovering: bool,
    network: Option<&dyn Fn() -> anyhow::Result<()>>,
    written: Option<RecordWrite>,
) -> anyhow::Result<()> {
    let paths = PodPaths::new(root, &record.uid);
    // The record's bytes, for a supervisor started while they are still on
    // their way to the disk (see `RecordWrite`).
    let record_pipe = match &written {
        Some(_) => Some(
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("create the record's pipe")?,
        ),
        None => None,
    };
    // Close-on-exec: the supervisor keeps only the end it is handed (were
    // the network's other end its too, it would wait for itself).
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("create readiness pipe")?;
    // A socket pair, not a pipe: a word to a supervisor already dead must
    // fail (MSG_NOSIGNAL), not kill podctl with SIGPIPE.
    let word = match network {
        Some(_) => Some(
            nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::Stream,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            )
            .context("create the network's socket pair")?,
        ),
        None => None,
    };
    let log = std::fs::File::create(paths.supervisor_log()).context("create supervisor.log")?;
    let write_fd = write.as_raw_fd();
    let word_fd = word.as_ref().map(|(read, _)| read.as_raw_fd());
    let record_fd = record_pipe.as_ref().map(|(read, _)| read.as_raw_fd());
    let mut command = Command::new(exe);
    command
        .arg("--root")
        .arg(root)
        .arg(&record.uid)
        .env(READY_FD, write_fd.to_string())
        .env(SUPERVISOR_LOG, supervisor_log_level())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(fd) = word_fd {
        command.env(supervisor::NETWORK_MADE_FD, fd.to_string());
    }
    if let Some(fd) = record_fd {
        command.env(supervisor::RECORD_FD, fd.to_string());
    }
    // SAFETY: between fork and exec the closure only calls setsid(2),
    // close_range(2) and fcntl(2), all async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            inherit_nothing_else();
            // Keep the readiness pipe (and the network's and the record's) open across exec.
            for fd in std::iter::once(write_fd).chain(word_fd).chain(record_fd) {
                nix::fcntl::fcntl(
                    fd,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
                .map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    let child = command.spawn();
    drop(write);
    let word = word.map(|(read, write)| {
        drop(read);
        write
    });
    let record_pipe = record_pipe.map(|(read, write)| {
        drop(read);
        write
    });
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            // The record's file is done before its folder goes.
            if let Some(written) = written {
                let _ = written.wait();
            }
            podcore::teardown::remove_pod(root, &record.entry());
            return Err(e).context("spawn the pod supervisor");
        }
    };
    if let (Some(pipe), Some(written)) = (record_pipe, &written) {
        // A supervisor already dead fails the write (EPIPE: podctl ignores
        // SIGPIPE); its death is reported below, as ever.
        let _ = std::io::Write::write_all(&mut std::fs::File::from(pipe), written.bytes());
    }
    // The record is on disk before the supervisor goes on past pause: it is
    // told so with the network's word, or not at all.
    let durable = || -> anyhow::Result<()> {
        match written {
            Some(written) => written.wait().map_err(anyhow::Error::from),
            None => Ok(()),
        }
    };
    // The network is made while the supervisor starts; it is told, or the
    // socket closes without a word and it takes apart what it made.
    let network_error = match (network, word) {
        (Some(make), Some(word)) => match [make(), durable()]
            .into_iter()
            .collect::<anyhow::Result<()>>()
        {
            Ok(()) => {
                // A supervisor already gone is reported below, as ever.
                let _ = nix::sys::socket::send(
                    word.as_raw_fd(),
                    supervisor::NETWORK_MADE.as_bytes(),
                    nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                );
                None
            }
            Err(error) => Some(error),
        },
        _ => durable().err(),
    };
    // The report is one line; the read ends there, or at the pipe's end when
    // the supervisor dies first. Not at the end alone: a process that
    // inherited the write end (a tracer started as the supervisor) would
    // keep it open.
    let mut answer = String::new();
    std::io::BufReader::new(std::fs::File::from(read))
        .read_line(&mut answer)
        .context("wait for the pod supervisor")?;
    // The supervisor runs on, detached; it is reaped by init once this process exits.
    let _ = child.try_wait();
    if tracing::enabled!(tracing::Level::DEBUG) {
        // The supervisor's own steps, logged at the same level.
        let log = std::fs::read_to_string(paths.supervisor_log()).unwrap_or_default();
        eprint!("{log}");
    }
    let report: Option<control::StartReport> = serde_json::from_str(answer.trim()).ok();
    if let Some(error) = network_error {
        // The supervisor, told nothing, took apart what it made and said so.
        podcore::teardown::remove_pod(root, &record.entry());
        return Err(error);
    }
    match report {
        Some(control::StartReport::Started) => {
            podcore::namespaces::release_to_supervisor(root, &record.uid);
            Ok(())
        }
        None => {
            // The log goes with the pod's folder: its last lines are the cause.
            let log = std::fs::read_to_string(paths.supervisor_log()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            podcore::teardown::remove_pod(root, &record.entry());
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if tail.is_empty() {
                bail!("the pod supervisor died while starting the pod and logged nothing")
            }
            bail!(
                "the pod supervisor died while starting the pod; its last words:\n{}",
                tail.join("\n")
            )
        }
        Some(control::StartReport::Failed { error }) => {
            // A run's pod goes; a recovered pod stays, marked failed by its supervisor.
            if !recovering {
                podcore::teardown::remove_pod(root, &record.entry());
            }
            bail!("{error}")
        }
    }
}
