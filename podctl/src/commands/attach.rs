//! `podctl attach POD [-c CONTAINER] [-i] [-t]`: the output of a running
//! container's main process from now on, as the supervisor reads it (raw:
//! a terminal's prompt shows before its line ends), and with `-i` this
//! terminal's input sent to its stdin (a container started with `stdin:
//! true`) or its terminal (`tty: true`). It ends when the container ends,
//! or with Ctrl-C.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use podcore::control;
use podcore::status::ContainerState;

use crate::pods::Pod;

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
    let running = pod
        .container(&container)
        .is_some_and(|c| matches!(c.state, ContainerState::Running { .. }));
    if !running {
        bail!(
            "container {container} of pod {} is not running: attach needs a running container",
            args.name
        );
    }
    let request = control::Request::Attach {
        container: container.clone(),
        stdin: args.stdin,
    };
    let attached = control::Client::connect(&pod.paths)?
        .attach(&request)
        .with_context(|| format!("attach to {}/{container}", args.name))?;
    let raw = (args.tty && attached.tty && args.stdin).then(crate::terminal::RawMode::enter);
    if let Some(fd) = attached.input {
        std::thread::spawn(move || forward_input(fd));
    }
    // The output as the supervisor copies it, until the container ends.
    let mut out = std::io::stdout().lock();
    out.write_all(&attached.first)?;
    out.flush()?;
    let mut output = attached.output;
    let mut buffer = [0u8; 8192];
    loop {
        let n = match output.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("read the container's output"),
        };
        match out.write_all(&buffer[..n]).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(e).context("write the container's output"),
        }
    }
    drop(raw);
    Ok(())
}

/// Copy this process's stdin to the container's input until it ends; the
/// fd is closed then (a `stdinOnce` container sees its end of input). When
/// the container stops reading (its input closed: EPIPE) the copy ends and
/// its output is still shown: SIGPIPE, which would kill podctl, is blocked
/// in this thread alone.
fn forward_input(fd: OwnedFd) {
    let _ = nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGPIPE).thread_block();
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
