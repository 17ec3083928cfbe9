//! `podctl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND...`: a command run
//! by the pod's supervisor in a running container.

use std::os::fd::AsRawFd;
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
/// pod's containers) with this process's own stdin (with `-i`), stdout and
/// stderr, or with a new terminal (`-t`) whose master end comes here.
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
        let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
        let stdin_fd = if stdin {
            std::io::stdin().as_raw_fd()
        } else {
            null.as_raw_fd()
        };
        let request = control::Request::Exec {
            container: container.clone(),
            command,
            stdio: control::ExecStdio::Passed,
            timeout_seconds: None,
        };
        let fds = [
            stdin_fd,
            std::io::stdout().as_raw_fd(),
            std::io::stderr().as_raw_fd(),
        ];
        client.call_with_fds(&request, &fds)
    };
    match answer.with_context(what)? {
        control::Response::Exec { exit_code, .. } => Ok(exit_code.clamp(0, 255) as u8),
        other => bail!("{}: unexpected answer {other:?}", what()),
    }
}
