//! `podctl attach POD [-c CONTAINER] [-i] [-t]`: the output of a running
//! container's main process from now on (read from its log, as it is
//! written), and with `-i` this terminal's input sent to its stdin (a
//! container started with `stdin: true`) or its terminal (`tty: true`).
//! It ends when the container ends, or with Ctrl-C. Output reaches the log,
//! and so this command, a line at a time.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use podcore::control;
use podcore::logs::{RunsFollower, Start};
use podcore::status::ContainerState;

use crate::pods::Pod;

/// How often the log is looked at for more.
const FOLLOW_EVERY: Duration = Duration::from_millis(50);

/// `podctl attach` arguments.
#[derive(clap::Args)]
pub struct AttachArgs {
    name: String,
    /// The container (default: the pod's first app container).
    #[arg(short, long)]
    container: Option<String>,
    /// Send this terminal's input to the container.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Put this terminal in raw mode (for a container with `tty: true`).
    #[arg(short, long)]
    tty: bool,
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

pub fn run(root: &Path, args: AttachArgs) -> anyhow::Result<()> {
    let pod = Pod::find(root, &args.namespace, &args.name)?;
    let container = pod.pick_container(args.container.as_deref())?;
    let run = match pod.container(&container) {
        Some(c) if matches!(c.state, ContainerState::Running { .. }) => c.restart_count,
        _ => bail!(
            "container {container} of pod {} is not running: attach needs a running container",
            args.name
        ),
    };
    let input = if args.stdin {
        let client = control::Client::connect(&pod.paths)?;
        let request = control::Request::Attach {
            container: container.clone(),
        };
        match client
            .call_receiving_fd(&request)
            .with_context(|| format!("attach to {}/{container}", args.name))?
        {
            (control::Response::Attached { tty }, Some(fd)) => Some((fd, tty)),
            (other, _) => bail!("attach: unexpected answer {other:?}"),
        }
    } else {
        None
    };
    let raw = match &input {
        Some((_, true)) if args.tty => Some(crate::terminal::RawMode::enter()),
        _ => None,
    };
    // A terminal in raw mode needs the carriage return too.
    let newline: &[u8] = if raw.is_some() { b"\r\n" } else { b"\n" };
    if let Some((fd, _)) = input {
        std::thread::spawn(move || forward_input(fd));
    }
    // From now on: what is already in the log was before the attach.
    let mut follower = RunsFollower::new(&pod.paths.logs(&container), run, Start::Tail(0));
    let mut out = std::io::stdout().lock();
    loop {
        let printed = follower.poll(|_, line| {
            out.write_all(line.as_bytes())?;
            out.write_all(newline)
        });
        printed
            .and_then(|()| out.flush())
            .context("write the container's output")?;
        if super::logs::ended(&pod.paths, &container) {
            let _ = follower.poll(|_, line| {
                out.write_all(line.as_bytes())?;
                out.write_all(newline)
            });
            let _ = out.flush();
            drop(raw);
            return Ok(());
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// Copy this process's stdin to the container's input until it ends; the
/// fd is closed then (a `stdinOnce` container sees its end of input).
fn forward_input(fd: OwnedFd) {
    let mut target = std::fs::File::from(fd);
    let mut stdin = std::io::stdin().lock();
    let mut buffer = [0u8; 4096];
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut rest = &buffer[..n];
        while !rest.is_empty() {
            match target.write(rest) {
                Ok(written) => rest = &rest[written..],
                // A terminal's master is non-blocking (the supervisor reads it): wait for room.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let mut fds = [nix::poll::PollFd::new(
                        target.as_fd(),
                        nix::poll::PollFlags::POLLOUT,
                    )];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u8));
                }
                Err(_) => return,
            }
        }
    }
}
