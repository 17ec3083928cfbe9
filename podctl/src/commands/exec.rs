//! `podctl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND...`: a command run
//! by the pod's supervisor in a running container.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use podcore::control;
use podcore::status::ContainerState;

use crate::pods::Pod;

/// `podctl exec` arguments.
#[derive(clap::Args)]
pub struct ExecArgs {
    /// Pass standard input to the command.
    #[arg(short, long)]
    stdin: bool,
    /// Run the command on a terminal (use with -s for an interactive shell).
    #[arg(short, long)]
    tty: bool,
    name: String,
    /// The container (default: the pod's first app container).
    #[arg(short, long)]
    container: Option<String>,
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// `podctl exec`: run a command in a running container, returning its exit
/// code. The pod's supervisor runs it (only it creates processes in the
/// pod's containers) with pipes this process copies to and from its own
/// stdin (with `-i`), stdout and stderr, or with a new terminal (`-t`) whose
/// master end comes here.
pub fn run(root: &Path, args: ExecArgs) -> anyhow::Result<u8> {
    let ExecArgs {
        stdin,
        tty,
        name,
        container,
        namespace,
        command,
    } = args;
    let pod = Pod::find(root, &namespace, &name)?;
    let container = pod.pick_container(container.as_deref())?;
    let running = pod
        .container(&container)
        .is_some_and(|c| matches!(c.state, ContainerState::Running { .. }));
    if !running {
        bail!("container {container} of pod {name} is not running: exec needs a running container");
    }
    let what = || format!("exec in {name}/{container}");
    let client = control::Client::connect(&pod.paths).with_context(what)?;
    let answer = if tty {
        let dir = crate::terminal::socket_dir(root)?;
        let socket = dir.path().join("console.sock");
        let listener =
            std::os::unix::net::UnixListener::bind(&socket).context("create the console socket")?;
        let request = control::Request::Exec {
            container: container.clone(),
            command,
            stdio: control::ExecStdio::Terminal {
                console_socket: socket.clone(),
            },
            timeout_seconds: None,
        };
        // The supervisor answers when the process ends; the terminal is
        // served meanwhile.
        let call = std::thread::spawn(move || client.call(&request));
        let master = crate::terminal::receive_master(&listener)?;
        crate::terminal::proxy(master)?;
        call.join()
            .map_err(|_| anyhow::anyhow!("the exec call panicked"))?
    } else {
        relayed(client, container.clone(), command, stdin)
    };
    match answer.with_context(what)? {
        control::Response::Exec { exit_code, .. } => Ok(exit_code.clamp(0, 255) as u8),
        other => bail!("{}: unexpected answer {other:?}", what()),
    }
}

/// Run the command with pipes for its standard streams and copy them: its
/// output to this process's stdout and stderr, and with `stdin` this
/// process's stdin to it. Never this process's own descriptors: a process
/// in the container holding the caller's terminal could push keystrokes
/// into the caller's shell (TIOCSTI) or read them after the command ended,
/// and one holding a file could reopen it through `/proc/self/fd` for
/// reading; docker, podman and kubectl relay the streams likewise.
fn relayed(
    client: control::Client,
    container: String,
    command: Vec<String>,
    stdin: bool,
) -> Result<control::Response, control::ClientError> {
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from);
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let (in_read, in_write): (OwnedFd, Option<OwnedFd>) = if stdin {
        let (read, write) = pipe()?;
        (read, Some(write))
    } else {
        (std::fs::File::open("/dev/null")?.into(), None)
    };
    // The answer comes when the process ends; `done` says so to the relay.
    let (done_read, done_write) = pipe()?;
    let request = control::Request::Exec {
        container,
        command,
        stdio: control::ExecStdio::Passed,
        timeout_seconds: None,
    };
    let call = std::thread::spawn(move || {
        let fds = [
            in_read.as_raw_fd(),
            out_write.as_raw_fd(),
            err_write.as_raw_fd(),
        ];
        let answer = client.call_with_fds(&request, &fds);
        drop((in_read, out_write, err_write));
        let _ = nix::unistd::write(&done_write, b"!");
        answer
    });
    if let Some(input) = in_write {
        // Blocking copies end at stdin's end, or when the process is gone
        // (EPIPE); a copy still waiting for stdin then dies with podctl.
        // SIGPIPE is blocked in this thread alone: a command that stops
        // reading early (`yes | podctl exec -i ... head -1`) must not kill
        // podctl before it reports the command's exit code.
        std::thread::spawn(move || {
            let _ =
                nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGPIPE).thread_block();
            let _ = std::io::copy(
                &mut std::io::stdin().lock(),
                &mut std::fs::File::from(input),
            );
        });
    }
    relay_output(out_read, err_read, &done_read)?;
    call.join()
        .map_err(|_| control::ClientError::Protocol("the exec call panicked".into()))?
}

/// Copy `out` to stdout and `err` to stderr until both end, or until `done`
/// is readable (the process ended) and what they hold is copied: a process
/// the command left behind may keep the pipes open, and is not waited for.
fn relay_output(out: OwnedFd, err: OwnedFd, done: &OwnedFd) -> std::io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut sources = [
        Some((std::fs::File::from(out), false)),
        Some((std::fs::File::from(err), true)),
    ];
    let mut buffer = [0u8; 16384];
    let mut copy = |file: &mut std::fs::File, to_stderr: bool| -> std::io::Result<bool> {
        match file.read(&mut buffer) {
            Ok(0) => Ok(false),
            Ok(n) if to_stderr => std::io::stderr().write_all(&buffer[..n]).map(|()| true),
            Ok(n) => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&buffer[..n])?;
                stdout.flush().map(|()| true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    };
    while sources.iter().any(Option::is_some) {
        let mut fds = vec![PollFd::new(done.as_fd(), PollFlags::POLLIN)];
        let open: Vec<usize> = (0..2).filter(|i| sources[*i].is_some()).collect();
        for i in &open {
            let (file, _) = sources[*i].as_ref().expect("an open source");
            fds.push(PollFd::new(file.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.map_err(std::io::Error::from)?,
        };
        let events: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if !events[0].is_empty() {
            // Ended: copy what the pipes hold without waiting for more.
            for (file, to_stderr) in sources.iter_mut().flatten() {
                nix::fcntl::fcntl(
                    file.as_raw_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                )?;
                while copy(file, *to_stderr)? {}
            }
            return Ok(());
        }
        for (slot, event) in open.iter().zip(&events[1..]) {
            if event.is_empty() {
                continue;
            }
            let (file, to_stderr) = sources[*slot].as_mut().expect("an open source");
            if !copy(file, *to_stderr)? {
                sources[*slot] = None;
            }
        }
    }
    Ok(())
}
