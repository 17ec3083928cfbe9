//! Containers through libcontainer: write the bundle and create, start,
//! exec into and destroy. Only a single-threaded process may call these
//! (libcontainer's `build()` can deadlock beside other threads), and it
//! becomes the container's parent.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::Container as Runtime;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use super::{ContainerError, spec_error};
use crate::executor::PodExecutor;

/// A container's standard streams.
#[derive(Debug)]
pub enum Stdio {
    /// These pipes (stdin: /dev/null when none).
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A terminal the runtime makes, its master sent to this listening socket.
    Console(PathBuf),
}

/// The bundle of container `id`: beside libcontainer's state, on the same
/// tmpfs (runtime state, rewritten by every create, as containerd keeps
/// its bundles under `/run`).
pub fn bundle_dir(state_root: &Path, id: &str) -> PathBuf {
    state_root.join("bundles").join(id)
}

/// Write the bundle (`config.json`, see [`bundle_dir`]) and create the
/// container through libcontainer (its init waits for [`start`]). Must run
/// in a single-threaded process, which becomes the container's parent.
pub fn create(
    id: &str,
    spec: &Spec,
    state_root: &Path,
    stdio: Stdio,
) -> Result<Runtime, ContainerError> {
    let name = id.to_string();
    let bundle = &bundle_dir(state_root, id);
    std::fs::create_dir_all(bundle).map_err(ContainerError::io(id, "create", bundle))?;
    let config = bundle.join("config.json");
    spec.save(&config)
        .map_err(|e| spec_error(&name, format!("write {}: {e}", config.display())))?;
    std::fs::create_dir_all(state_root).map_err(ContainerError::io(id, "create", state_root))?;
    let stale = state_root.join(id);
    if stale.exists() {
        if let Ok(mut old) = Runtime::load(stale.clone()) {
            let _ = old.delete(true);
        }
        let _ = std::fs::remove_dir_all(&stale);
    }
    let runtime_error = |step| runtime_error(&name, step);
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(PodExecutor::default())
        .with_root_path(state_root)
        .map_err(runtime_error("set state folder"))?;
    builder = match stdio {
        Stdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            let stdin = match stdin {
                Some(stdin) => stdin,
                None => {
                    let null = Path::new("/dev/null");
                    std::fs::File::open(null)
                        .map_err(ContainerError::io(id, "open", null))?
                        .into()
                }
            };
            builder
                .with_stdin(stdin)
                .with_stdout(stdout)
                .with_stderr(stderr)
        }
        Stdio::Console(socket) => builder.with_console_socket(Some(socket.as_path())),
    };
    builder
        .validate_id()
        .map_err(runtime_error("validate id"))?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(runtime_error("create"))
}

/// A mapper from libcontainer's error to ours, naming the container and step.
fn runtime_error(
    container: &str,
    step: &'static str,
) -> impl FnOnce(libcontainer::error::LibcontainerError) -> ContainerError {
    let container = container.to_string();
    move |source| ContainerError::Runtime {
        container,
        step,
        source: Box::new(source),
    }
}

/// Start a created container.
pub fn start(container: &mut Runtime) -> Result<i32, ContainerError> {
    let id = container.id().to_string();
    container
        .start()
        .map_err(|source| ContainerError::Runtime {
            container: id.clone(),
            step: "start",
            source: Box::new(source),
        })?;
    container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| spec_error(&id, "started without a pid"))
}

/// The standard streams of a process exec'd into a container.
#[derive(Debug)]
pub enum ExecIo {
    /// /dev/null for all three (probes and hooks).
    Quiet,
    /// These descriptors: stdin, stdout, stderr.
    Fds([OwnedFd; 3]),
    /// A new pseudo-terminal, whose master end the runtime sends to this
    /// listening Unix socket.
    Terminal(PathBuf),
}

/// Start `args` inside the running container `id` as the container's own
/// process runs: its user, environment, working folder, capabilities,
/// no_new_privs, cgroup, namespaces and seccomp filter. The caller
/// (single-threaded) becomes its parent and must reap it; returns its pid.
pub fn spawn_in(
    state_root: &Path,
    id: &str,
    args: Vec<String>,
    io: ExecIo,
) -> Result<i32, ContainerError> {
    let name = id.to_string();
    let runtime_error = |step| runtime_error(&name, step);
    let container = Runtime::load(state_root.join(id)).map_err(runtime_error("load"))?;
    let bundle = container.bundle().to_path_buf();
    let config = bundle.join("config.json");
    let spec = Spec::load(&config)
        .map_err(|e| spec_error(&name, format!("read {}: {e}", config.display())))?;
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| spec_error(&name, "the container's spec has no process"))?;
    let terminal = matches!(io, ExecIo::Terminal(_));
    process.set_args(Some(args));
    process.set_terminal(Some(terminal));
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let io_error = |context, path| ContainerError::io(id, context, path);
    let file = tempfile::Builder::new()
        .prefix("exec-")
        .suffix(".json")
        .tempfile_in(&bundle)
        .map_err(io_error("create the exec process file in", &bundle))?;
    let json = serde_json::to_vec(&process)
        .map_err(|e| spec_error(&name, format!("encode the exec process: {e}")))?;
    std::fs::write(file.path(), json).map_err(io_error("write", file.path()))?;
    let null = |write: bool| {
        std::fs::File::options()
            .read(!write)
            .write(write)
            .open("/dev/null")
            .map_err(io_error("open", Path::new("/dev/null")))
    };
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(PodExecutor { seccomp })
        .with_root_path(state_root)
        .map_err(runtime_error("set state folder"))?;
    match io {
        ExecIo::Fds([stdin, stdout, stderr]) => {
            builder = builder
                .with_stdin(stdin)
                .with_stdout(stdout)
                .with_stderr(stderr)
        }
        ExecIo::Quiet => {
            builder = builder
                .with_stdin(null(false)?)
                .with_stdout(null(true)?)
                .with_stderr(null(true)?)
        }
        ExecIo::Terminal(socket) => builder = builder.with_console_socket(Some(socket.as_path())),
    }
    let pid = builder
        .as_tenant()
        .with_process(Some(file.path()))
        .with_detach(terminal)
        .build()
        .map_err(runtime_error("exec"))?;
    Ok(pid.as_raw())
}

/// Remove a container's libcontainer state and leaf cgroup, killing what is left.
pub fn destroy(state_root: &Path, id: &str) {
    let dir = state_root.join(id);
    let _ = std::fs::remove_dir_all(bundle_dir(state_root, id));
    if !dir.exists() {
        return;
    }
    if let Ok(mut container) = Runtime::load(dir.clone())
        && let Err(e) = container.delete(true)
    {
        tracing::warn!(container = id, error = %e, "delete container");
    }
    let _ = std::fs::remove_dir_all(dir);
}
