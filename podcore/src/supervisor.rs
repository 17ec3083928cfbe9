//! The per-pod supervisor: one small, single-threaded process per pod (the
//! role of conmon or a containerd shim, for a whole pod). It creates the
//! sandbox and the containers through libcontainer from throw-away children
//! of its own (see `create_in_child`), is their parent once those exit and
//! reads their exit codes; it is a child subreaper and reaps every child; it
//! restarts containers with the kubelet's back-off, runs init and sidecar
//! containers in order, writes each container's output to CRI log
//! files, keeps `status.json` current, and stops the pod gracefully on SIGTERM.
//!
//! Signals reach the loop through a self-pipe written by async-signal-safe
//! handlers rather than a signalfd: a signalfd needs the signals blocked,
//! and a blocked mask would be inherited by every container libcontainer clones.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::container;
use crate::image::overlay;
use crate::logs::{LineBuffer, Stream};
use crate::pod::{PodPaths, PodRecord, read_json, write_json};
use crate::spec::{Container, RestartPolicy};
use crate::status::{
    self, Condition, ContainerState, ContainerStatus, Event, Phase, PodStatus, SandboxStatus,
    Terminated,
};

/// Why the supervisor could not run the pod.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{0}")]
    Pod(#[from] crate::pod::PodError),
    #[error("{0}")]
    Lock(#[from] crate::control::LockError),
    #[error("{0}")]
    Container(#[from] container::ContainerError),
    #[error("{0}")]
    Image(#[from] crate::image::Error),
    #[error("{step}: {source}")]
    Sys {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A container could not be created: the cause as the creating child
    /// process told it.
    #[error("{0}")]
    Create(String),
}

fn sys(step: &'static str) -> impl FnOnce(nix::errno::Errno) -> SupervisorError {
    move |e| SupervisorError::Sys {
        step,
        source: e.into(),
    }
}

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// One signal in the self-pipe: its number, then the value `sigqueue`
/// gave it (0 for a plain `kill`), little-endian.
const SIGNAL_RECORD: usize = 5;

extern "C" fn on_signal(
    signo: nix::libc::c_int,
    info: *mut nix::libc::siginfo_t,
    _: *mut nix::libc::c_void,
) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    let mut value = 0u32;
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // si_value is meaningful when si_code says the signal was queued.
    unsafe {
        if !info.is_null() && (*info).si_code == nix::libc::SI_QUEUE {
            value = (*info).si_value().sival_ptr as usize as u32;
        }
    }
    let mut record = [0u8; SIGNAL_RECORD];
    record[0] = signo as u8;
    record[1..].copy_from_slice(&value.to_le_bytes());
    // SAFETY: write(2) on a non-blocking pipe is async-signal-safe; a write
    // of fewer than PIPE_BUF bytes is whole or not at all (a full pipe drops it).
    unsafe { nix::libc::write(fd, record.as_ptr().cast(), SIGNAL_RECORD) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    Sidecar,
    App,
}

struct Output {
    fd: OwnedFd,
    buffer: LineBuffer,
}

struct Slot {
    spec: Container,
    kind: Kind,
    status: ContainerStatus,
    pid: Option<i32>,
    started: Option<Instant>,
    next_start: Option<Instant>,
    backoff_step: u32,
    ever_started: bool,
    /// Started in the current sandbox (a new sandbox runs init containers again).
    round_started: bool,
    /// The container's probes while it runs.
    probes: Vec<crate::probe::ProbeState>,
    /// The running preStop hook.
    hook_pid: Option<i32>,
    hook_started: bool,
    /// The stop signal was sent in this stop.
    term_sent: bool,
    /// Init containers: exited 0.
    done: bool,
    outputs: Vec<Output>,
    log: Option<crate::logs::LogFile>,
    oom_before: u64,
    cgroup: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Apps,
    Sidecars,
    Pause,
    Done,
}

struct Stopping {
    stage: Stage,
    deadline: Instant,
    /// Remove the pod's folder at the end (delete), or keep it (completed pod).
    delete: bool,
    killed: bool,
}

/// The supervisor of one pod.
pub struct Supervisor {
    paths: PodPaths,
    record: PodRecord,
    status: PodStatus,
    slots: Vec<Slot>,
    pause_pid: Option<i32>,
    init_index: usize,
    apps_started: bool,
    init_failed_never: bool,
    stopping: Option<Stopping>,
    ready: Option<File>,
    /// This supervisor took over a pod whose supervisor died (`podctl recover`).
    recovering: bool,
    /// pause died: the containers are being killed so the sandbox can be made anew.
    rebuilding: bool,
    signals: OwnedFd,
    dirty: bool,
}

/// The file name of the supervisor's binary, which `podctl run` starts for every pod.
pub const SUPERVISOR_BINARY: &str = "podctl-supervisor";

/// Run the supervisor of pod `uid` under `root` until the pod is deleted or
/// completes. `ready` gets `ok` once the app containers run, or `error: ...`.
pub fn run(root: &Path, uid: &str, ready: Option<File>) -> Result<(), SupervisorError> {
    let _ = nix::unistd::setsid();
    nix::sys::prctl::set_child_subreaper(true).map_err(sys("become a child subreaper"))?;
    own_mount_namespace()?;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(sys("create signal pipe"))?;
    SIGNAL_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(write);
    let action = SigAction::new(
        SigHandler::SigAction(on_signal),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP | SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        // SAFETY: the handler only calls write(2) on a pipe, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }.map_err(sys("install signal handler"))?;
    }
    // SAFETY: ignoring SIGPIPE installs no handler code.
    unsafe {
        sigaction(
            Signal::SIGPIPE,
            &SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty()),
        )
    }
    .map_err(sys("ignore SIGPIPE"))?;

    let paths = PodPaths::new(root, uid);
    // Held until this process ends: how podctl knows the supervisor lives.
    let _lock = crate::control::SupervisorLock::acquire(&paths)?;
    std::fs::write(paths.supervisor_pid(), format!("{}\n", std::process::id())).map_err(|e| {
        SupervisorError::Sys {
            step: "write supervisor.pid",
            source: e,
        }
    })?;
    let record: PodRecord = read_json(&paths.record())?;
    let previous: Option<PodStatus> = read_json(&paths.status()).ok();
    let mut supervisor = Supervisor::new(paths, record, ready, read);
    if let Some(previous) = previous {
        supervisor.take_over(previous);
    }
    if let Err(error) = supervisor.start_sandbox() {
        supervisor.fail_setup(&error);
        return Err(error);
    }
    supervisor.event_loop();
    Ok(())
}

impl Supervisor {
    fn new(paths: PodPaths, record: PodRecord, ready: Option<File>, signals: OwnedFd) -> Self {
        let qos = record.spec.qos_class();
        let mut slots = Vec::new();
        for (list, init) in [
            (&record.spec.init_containers, true),
            (&record.spec.containers, false),
        ] {
            for c in list {
                let kind = match (init, c.is_sidecar()) {
                    (true, true) => Kind::Sidecar,
                    (true, false) => Kind::Init,
                    _ => Kind::App,
                };
                let image = &record.images[&c.name];
                let reason = if kind == Kind::App && !record.spec.init_containers.is_empty() {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                };
                slots.push(Slot {
                    spec: c.clone(),
                    kind,
                    status: ContainerStatus {
                        name: c.name.clone(),
                        image: image.reference.clone(),
                        image_id: image.digest.clone(),
                        container_id: paths.container_id(&c.name),
                        state: ContainerState::Waiting {
                            reason: reason.into(),
                            message: None,
                        },
                        last_state: None,
                        restart_count: 0,
                        pid: None,
                        ready: false,
                        started: false,
                    },
                    pid: None,
                    started: None,
                    next_start: None,
                    backoff_step: 0,
                    ever_started: false,
                    round_started: false,
                    probes: Vec::new(),
                    hook_pid: None,
                    hook_started: false,
                    term_sent: false,
                    done: false,
                    outputs: Vec::new(),
                    log: None,
                    oom_before: 0,
                    cgroup: format!("{}/{}", crate::cgroups::pod_cgroup(qos, &paths.uid), c.name),
                });
            }
        }
        let now = Utc::now();
        let condition = |kind: &str| Condition {
            kind: kind.into(),
            status: kind == "PodScheduled",
            last_transition_time: now,
        };
        // The pod's addresses, from the network podctl made before this process.
        let attachment = crate::network::attachment(&paths);
        let status = PodStatus {
            phase: Phase::Pending,
            reason: None,
            message: None,
            start_time: Some(now),
            pod_ip: attachment
                .as_ref()
                .and_then(|a| a.pod_ip())
                .map(str::to_string),
            pod_ips: attachment.map(|a| a.ips).unwrap_or_default(),
            host_ip: crate::network::host_ip(),
            qos_class: qos.as_str().into(),
            terminating: false,
            conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
                .map(condition)
                .to_vec(),
            sandbox: SandboxStatus {
                pause_pid: None,
                container_id: paths.container_id("pause"),
                restarts: 0,
            },
            init_containers: Vec::new(),
            containers: Vec::new(),
            events: Vec::new(),
        };
        Self {
            paths,
            record,
            status,
            slots,
            pause_pid: None,
            init_index: 0,
            apps_started: false,
            init_failed_never: false,
            stopping: None,
            ready,
            signals,
            dirty: true,
            rebuilding: false,
            recovering: false,
        }
    }

    fn state_root(&self) -> PathBuf {
        PodPaths::run_dir(&self.paths.root)
    }

    fn event(&mut self, kind: &str, reason: &str, message: String) {
        tracing::info!(reason, %message, "event");
        self.status.events.push(Event {
            time: Utc::now(),
            kind: kind.into(),
            reason: reason.into(),
            message,
        });
        if self.status.events.len() > 200 {
            self.status.events.remove(0);
        }
        self.dirty = true;
    }

    fn notify(&mut self, message: &str) {
        if let Some(mut ready) = self.ready.take() {
            let _ = ready.write_all(format!("{message}\n").as_bytes());
        }
    }

    /// Carry over what a dead supervisor recorded: restart counts, last
    /// states, events; every container starts again in a new sandbox.
    fn take_over(&mut self, previous: PodStatus) {
        self.recovering = true;
        for slot in &mut self.slots {
            if let Some(old) = previous
                .init_containers
                .iter()
                .chain(&previous.containers)
                .find(|c| c.name == slot.spec.name)
            {
                slot.status.restart_count = old.restart_count;
                slot.status.last_state = match &old.state {
                    ContainerState::Terminated(t) => Some(t.clone()),
                    _ => old.last_state.clone(),
                };
                slot.ever_started = old.started || old.restart_count > 0;
            }
        }
        self.status.start_time = previous.start_time;
        self.status.events = previous.events;
        self.status.sandbox.restarts = previous.sandbox.restarts + 1;
        self.event("Warning", "Recovered", "the pod's supervisor was lost: a new one recreated the sandbox and restarts the containers".into());
    }

    /// Setup failed: undo everything, tell podctl which step failed.
    fn fail_setup(&mut self, error: &SupervisorError) {
        let mut error = chain(error);
        // libcontainer says the cause only in its log lines: pass the last ones on.
        let log =
            std::fs::read_to_string(self.paths.dir.join("supervisor.log")).unwrap_or_default();
        let detail: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        if let Some(last) = detail.last() {
            error.push_str(&format!(" ({})", last.trim()));
        }
        tracing::error!(%error, "pod setup failed");
        self.kill_everything();
        let (namespace, name) = (
            self.record.spec.namespace.clone(),
            self.record.spec.name.clone(),
        );
        // podctl removes the rest (folder, name, network) once told of the error.
        crate::sandbox::teardown(&self.paths, &namespace, &name, true);
        if self.recovering {
            // Keep the pod and say why it ended.
            self.status.phase = Phase::Failed;
            self.status.reason = Some("RecoveryFailed".into());
            self.status.message = Some(error.clone());
            self.dirty = true;
            self.write_status();
            let _ = std::fs::remove_file(self.paths.supervisor_pid());
        }
        self.notify(&format!("error: {error}"));
    }

    fn kill_everything(&mut self) {
        let state_root = self.state_root();
        for slot in &self.slots {
            container::destroy(&state_root, &self.paths.container_id(&slot.spec.name));
        }
        container::destroy(&state_root, &self.paths.container_id("pause"));
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
        }
    }

    fn start_sandbox(&mut self) -> Result<(), SupervisorError> {
        let null = || {
            File::options()
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
        };
        let (out, err) = (null(), null());
        let (out, err) = (
            out.map_err(|e| SupervisorError::Sys {
                step: "open /dev/null",
                source: e,
            })?,
            err.map_err(|e| SupervisorError::Sys {
                step: "open /dev/null",
                source: e,
            })?,
        );
        let id = self.paths.container_id("pause");
        let bundle = self.paths.container("pause").join("bundle");
        let state_root = self.state_root();
        // A pinned namespace has lo up already (see `network::pin_netns`).
        let loopback = !self.record.spec.host_network
            && crate::network::pinned_netns(&self.paths.root, &self.paths.uid).is_none();
        let pid = create_in_child(|| {
            step("sandbox files (/etc, /dev/shm, volumes)", || {
                crate::sandbox::prepare(
                    &self.record.spec,
                    &self.paths,
                    self.status.pod_ip.as_deref(),
                )
            })?;
            let rootfs = step("pause: mount root filesystem", || {
                self.mount_rootfs("pause", &self.record.pause.layers, true)
            })?;
            let spec = container::pause_spec(&self.record.spec, &self.paths, &rootfs)?;
            let mut created = step("pause: create container", || {
                container::create(&id, &bundle, &spec, &state_root, out, err)
            })?;
            let pid = step("pause: start container", || container::start(&mut created))?;
            if loopback {
                step("pause: bring up loopback", || {
                    crate::sandbox::loopback_up(pid)
                })
                .map_err(|e| SupervisorError::Sys {
                    step: "bring up loopback in the pod's network namespace",
                    source: e,
                })?;
            }
            Ok(pid)
        })?;
        self.pause_pid = Some(pid);
        self.status.sandbox.pause_pid = Some(pid);
        self.event(
            "Normal",
            "SandboxReady",
            format!("pause started as pid {pid}"),
        );
        Ok(())
    }

    /// Mount (or remount after a restart) a container's overlay root filesystem.
    fn mount_rootfs(
        &self,
        name: &str,
        layers: &[PathBuf],
        fresh: bool,
    ) -> Result<PathBuf, SupervisorError> {
        let dir = self.paths.container(name);
        let rootfs = dir.join("rootfs");
        overlay::unmount_rootfs(&rootfs)?;
        if fresh {
            // A restarted container gets a new writable layer, as in Kubernetes.
            let _ = std::fs::remove_dir_all(dir.join("upper"));
            let _ = std::fs::remove_dir_all(dir.join("work"));
        }
        for sub in ["upper", "work", "rootfs"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| SupervisorError::Sys {
                step: "create container folder",
                source: e,
            })?;
        }
        overlay::mount_rootfs(layers, &dir.join("upper"), &dir.join("work"), &rootfs)?;
        Ok(rootfs)
    }

    fn start_container(&mut self, index: usize) {
        let name = self.slots[index].spec.name.clone();
        let restart =
            self.slots[index].status.restart_count + u32::from(self.slots[index].ever_started);
        match self.try_start(index, restart) {
            Ok(pid) => {
                let slot = &mut self.slots[index];
                if slot.ever_started {
                    slot.status.restart_count += 1;
                }
                slot.ever_started = true;
                slot.round_started = true;
                slot.hook_started = false;
                slot.term_sent = false;
                slot.pid = Some(pid);
                slot.started = Some(Instant::now());
                slot.next_start = None;
                slot.status.pid = Some(pid);
                slot.status.state = ContainerState::Running {
                    started_at: Utc::now(),
                };
                slot.status.started = true;
                slot.probes = probe_states(&slot.spec, slot.kind, Instant::now());
                slot.status.ready = slot.kind != Kind::Init && is_ready(slot);
                self.event("Normal", "Started", format!("Started container {name}"));
            }
            Err(error) => {
                let error = chain(&error);
                tracing::warn!(container = %name, %error, "start failed");
                self.event("Warning", "Failed", format!("Error: {error}"));
                let slot = &mut self.slots[index];
                slot.ever_started = true;
                slot.round_started = true;
                let terminated = Terminated {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: Some(error.to_string()),
                    started_at: None,
                    finished_at: Utc::now(),
                };
                self.cleanup_container(index);
                self.after_exit(index, terminated);
            }
        }
    }

    fn try_start(&mut self, index: usize, restart: u32) -> Result<i32, SupervisorError> {
        let pause_pid = self.pause_pid.ok_or(SupervisorError::Sys {
            step: "start container",
            source: std::io::Error::other("the sandbox is not running"),
        })?;
        let name = self.slots[index].spec.name.clone();
        let log_dir = self.paths.logs(&name);
        std::fs::create_dir_all(&log_dir).map_err(|e| SupervisorError::Sys {
            step: "create log folder",
            source: e,
        })?;
        let options = &self.record.options;
        let log = crate::logs::LogFile::open(
            &self.paths.log_file(&name, restart),
            options.log_max_size,
            options.log_max_files,
        )
        .map_err(|e| SupervisorError::Sys {
            step: "open log file",
            source: e,
        })?;
        // As the kubelet keeps only the last dead container: this run's log
        // and the previous one's (`logs --previous`), no older.
        for old in 0..restart.saturating_sub(1) {
            let file = self.paths.log_file(&name, old);
            for path in crate::logs::rotated_files(&file).into_iter().chain([file]) {
                let _ = std::fs::remove_file(path);
            }
        }
        let (out_read, out_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("create stdout pipe"))?;
        let (err_read, err_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("create stderr pipe"))?;
        for fd in [&out_read, &err_read] {
            nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
            )
            .map_err(sys("set pipe non-blocking"))?;
        }
        let id = self.paths.container_id(&name);
        let bundle = self.paths.container(&name).join("bundle");
        let state_root = self.state_root();
        let pid = create_in_child(|| {
            let rootfs = step(format_args!("{name}: mount root filesystem"), || {
                self.mount_rootfs(&name, &self.record.images[&name].layers, true)
            })?;
            let spec = container::app_spec(
                &self.record,
                &self.paths,
                &self.slots[index].spec,
                pause_pid,
                &rootfs,
            )?;
            let mut created = step(format_args!("{name}: create container"), || {
                container::create(&id, &bundle, &spec, &state_root, out_write, err_write)
            })?;
            step(format_args!("{name}: start container"), || {
                container::start(&mut created)
            })
            .map_err(SupervisorError::from)
        })?;
        let slot = &mut self.slots[index];
        slot.oom_before = crate::cgroups::oom_kills(&slot.cgroup).unwrap_or(0);
        slot.outputs = vec![
            Output {
                fd: out_read,
                buffer: LineBuffer::new(Stream::Stdout),
            },
            Output {
                fd: err_read,
                buffer: LineBuffer::new(Stream::Stderr),
            },
        ];
        slot.log = Some(log);
        Ok(pid)
    }

    /// Read what a container's pipes hold; `final_read` drains them and closes at EOF.
    fn pump(&mut self, index: usize, final_read: bool) {
        let slot = &mut self.slots[index];
        let Some(log) = slot.log.as_mut() else { return };
        let mut buffer = [0u8; 8192];
        let mut closed = Vec::new();
        for (i, output) in slot.outputs.iter_mut().enumerate() {
            loop {
                match nix::unistd::read(output.fd.as_raw_fd(), &mut buffer) {
                    Ok(0) => {
                        let _ = output.buffer.finish(log);
                        closed.push(i);
                        break;
                    }
                    Ok(n) => {
                        let _ = output.buffer.push(&buffer[..n], log);
                    }
                    Err(nix::errno::Errno::EAGAIN) => {
                        if final_read {
                            // Something in the container still holds the pipe: stop reading it.
                            let _ = output.buffer.finish(log);
                            closed.push(i);
                        }
                        break;
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => {
                        closed.push(i);
                        break;
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            slot.outputs.remove(i);
        }
        if slot.outputs.is_empty() && final_read {
            slot.log = None;
        }
    }

    fn cleanup_container(&mut self, index: usize) {
        let name = self.slots[index].spec.name.clone();
        container::destroy(&self.state_root(), &self.paths.container_id(&name));
        let _ = overlay::unmount_rootfs(&self.paths.container(&name).join("rootfs"));
    }

    fn on_exit(&mut self, index: usize, status: WaitStatus) {
        self.pump(index, true);
        let (exit_code, signal) = match status {
            WaitStatus::Exited(_, code) => (code, None),
            WaitStatus::Signaled(_, signal, _) => (128 + signal as i32, Some(signal as i32)),
            _ => return,
        };
        let slot = &self.slots[index];
        let oom = crate::cgroups::oom_kills(&slot.cgroup).unwrap_or(0) > slot.oom_before;
        let started_at = match slot.status.state {
            ContainerState::Running { started_at } => Some(started_at),
            _ => None,
        };
        let reason = if oom && signal == Some(Signal::SIGKILL as i32) {
            "OOMKilled".to_string()
        } else {
            status::exit_reason(exit_code).to_string()
        };
        let terminated = Terminated {
            exit_code,
            signal,
            reason,
            message: None,
            started_at,
            finished_at: Utc::now(),
        };
        let name = slot.spec.name.clone();
        self.event(
            if exit_code == 0 { "Normal" } else { "Warning" },
            "Exited",
            format!(
                "Container {name} exited with code {exit_code} ({})",
                terminated.reason
            ),
        );
        self.cleanup_container(index);
        self.after_exit(index, terminated);
    }

    /// Decide what follows a container's end: done, restart after back-off, or a failed pod.
    fn after_exit(&mut self, index: usize, terminated: Terminated) {
        let policy = self.record.spec.restart_policy;
        let stopping = self.stopping.is_some() || self.rebuilding;
        let initial = Duration::from_millis(self.record.options.backoff_initial_ms);
        let cap = Duration::from_millis(self.record.options.backoff_cap_ms);
        let slot = &mut self.slots[index];
        slot.pid = None;
        slot.status.pid = None;
        slot.status.ready = false;
        if slot
            .started
            .is_some_and(|s| s.elapsed() >= status::BACKOFF_RESET)
        {
            slot.backoff_step = 0;
        }
        slot.started = None;
        for probe in slot.probes.drain(..) {
            if let Some((pid, _)) = probe.running {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let exit_code = terminated.exit_code;
        let restart = !stopping
            && match slot.kind {
                Kind::Init if exit_code == 0 => {
                    slot.done = true;
                    false
                }
                // For init containers Always acts as OnFailure.
                Kind::Init => policy != RestartPolicy::Never,
                Kind::Sidecar => true,
                Kind::App => status::should_restart(policy, exit_code),
            };
        if slot.kind == Kind::Init && exit_code != 0 && policy == RestartPolicy::Never {
            self.init_failed_never = true;
        }
        if restart {
            let delay = status::backoff_delay(initial, cap, slot.backoff_step);
            slot.backoff_step += 1;
            slot.next_start = Some(Instant::now() + delay);
            slot.status.last_state = Some(terminated);
            slot.status.state = ContainerState::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(format!(
                    "back-off {:?} restarting failed container={}",
                    delay, slot.spec.name
                )),
            };
            let message = format!("Back-off {delay:?} restarting container {}", slot.spec.name);
            self.event("Warning", "BackOff", message);
        } else {
            slot.status.state = ContainerState::Terminated(terminated);
        }
        self.dirty = true;
    }

    /// Start what is due: the next init container, the app containers, restarts.
    fn schedule(&mut self) {
        if self.stopping.is_some() || self.init_failed_never {
            return;
        }
        let now = Instant::now();
        // Restarts whose back-off is over.
        for i in 0..self.slots.len() {
            if self.slots[i].next_start.is_some_and(|t| t <= now) {
                self.start_container(i);
            }
        }
        // Init containers, one at a time, in order.
        let inits: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].kind != Kind::App)
            .collect();
        while self.init_index < inits.len() {
            let i = inits[self.init_index];
            let slot = &self.slots[i];
            let running = slot.pid.is_some();
            if slot.kind == Kind::Sidecar
                && (running || slot.next_start.is_some())
                && slot.round_started
            {
                self.init_index += 1;
                continue;
            }
            if slot.kind == Kind::Init && slot.done {
                self.init_index += 1;
                continue;
            }
            if !running && slot.next_start.is_none() && !slot.round_started {
                self.start_container(i);
                continue;
            }
            return;
        }
        if !self.apps_started {
            self.apps_started = true;
            self.set_condition("Initialized", true);
            for i in 0..self.slots.len() {
                if self.slots[i].kind == Kind::App {
                    self.start_container(i);
                }
            }
        }
    }

    fn set_condition(&mut self, kind: &str, value: bool) {
        if let Some(c) = self.status.conditions.iter_mut().find(|c| c.kind == kind)
            && c.status != value
        {
            c.status = value;
            c.last_transition_time = Utc::now();
            self.dirty = true;
        }
    }

    fn app_states(&self) -> Vec<ContainerState> {
        self.slots
            .iter()
            .filter(|s| s.kind == Kind::App)
            .map(|s| s.status.state.clone())
            .collect()
    }

    fn update_phase(&mut self) {
        if self.rebuilding {
            return;
        }
        let initializing = !self.apps_started;
        let phase = status::pod_phase(
            self.record.spec.restart_policy,
            self.init_failed_never,
            initializing,
            &self.app_states(),
        );
        let apps_ready = self.apps_started
            && self
                .slots
                .iter()
                .filter(|s| s.kind != Kind::Init)
                .all(|s| s.pid.is_some() && s.status.ready);
        self.set_condition("ContainersReady", apps_ready);
        self.set_condition("Ready", apps_ready);
        if self.status.phase.is_terminal() || phase == self.status.phase {
            return;
        }
        self.status.phase = phase;
        self.dirty = true;
        if phase.is_terminal() && self.stopping.is_none() {
            self.event("Normal", "Completed", format!("pod {}", phase.as_str()));
            self.begin_stop(self.record.spec.termination_grace_period_seconds, false);
        }
    }

    fn begin_stop(&mut self, grace: u64, delete: bool) {
        if let Some(stopping) = &mut self.stopping {
            stopping.delete |= delete;
            // A shorter grace period shortens a stop under way (as kubectl delete --grace-period).
            let deadline = Instant::now() + Duration::from_secs(grace);
            if deadline < stopping.deadline {
                stopping.deadline = deadline;
            }
            return;
        }
        if delete {
            self.status.terminating = true;
        }
        for slot in &mut self.slots {
            slot.next_start = None;
        }
        self.stopping = Some(Stopping {
            stage: Stage::Apps,
            deadline: Instant::now() + Duration::from_secs(grace),
            delete,
            killed: false,
        });
        let targets: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].kind != Kind::Sidecar)
            .collect();
        for index in targets {
            self.stop_container(index, grace == 0);
        }
        self.dirty = true;
    }

    /// Run the probes that are due; exec probes run in the background and
    /// end in [`Self::reap`], network probes run here (bounded by their timeout).
    fn run_probes(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            if self.slots[index].pid.is_none() {
                continue;
            }
            for probe in 0..self.slots[index].probes.len() {
                let state = &self.slots[index].probes[probe];
                let startup_pending = self.slots[index]
                    .probes
                    .iter()
                    .any(|p| p.kind == crate::probe::Kind::Startup && !p.passed);
                if state.kind != crate::probe::Kind::Startup && startup_pending {
                    continue;
                }
                if let Some((pid, deadline)) = state.running {
                    if now >= deadline {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        self.slots[index].probes[probe].running = None;
                        self.probe_result(index, probe, false);
                    }
                    continue;
                }
                if state.next > now {
                    continue;
                }
                let timeout = Duration::from_secs(state.spec.timeout_seconds);
                match state.spec.action.clone() {
                    crate::spec::ProbeAction::Exec(command) => {
                        let id = self.paths.container_id(&self.slots[index].spec.name);
                        match container::spawn_in(
                            &self.state_root(),
                            &id,
                            command,
                            container::ExecIo::Quiet,
                        ) {
                            Ok(pid) => {
                                self.slots[index].probes[probe].running = Some((pid, now + timeout))
                            }
                            Err(_) => self.probe_result(index, probe, false),
                        }
                    }
                    action => {
                        let ok = self.pause_pid.is_some_and(|pause| {
                            crate::probe::check_network(pause, &action, timeout)
                        });
                        self.probe_result(index, probe, ok);
                    }
                }
            }
        }
    }

    fn probe_result(&mut self, index: usize, probe: usize, ok: bool) {
        let Some(state) = self.slots[index].probes.get_mut(probe) else {
            return;
        };
        let kind = state.kind;
        let outcome = state.record(ok, Instant::now());
        let name = self.slots[index].spec.name.clone();
        if !ok {
            self.event(
                "Warning",
                "Unhealthy",
                format!("{} probe of container {name} failed", kind.as_str()),
            );
        }
        match outcome {
            crate::probe::Outcome::Kill => {
                self.event(
                    "Normal",
                    "Killing",
                    format!(
                        "Container {name} failed its {} probe, it will be restarted",
                        kind.as_str().to_lowercase()
                    ),
                );
                if let Some(pid) = self.slots[index].pid {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            crate::probe::Outcome::Nothing => {}
            crate::probe::Outcome::Ready(_) | crate::probe::Outcome::Started => {}
        }
        let slot = &mut self.slots[index];
        let ready = slot.kind != Kind::Init && slot.pid.is_some() && is_ready(slot);
        if slot.status.ready != ready || !matches!(outcome, crate::probe::Outcome::Nothing) {
            slot.status.ready = ready;
            slot.status.started = slot
                .probes
                .iter()
                .filter(|p| p.kind == crate::probe::Kind::Startup)
                .all(|p| p.passed);
            self.dirty = true;
        }
    }

    /// The image's StopSignal, else SIGTERM.
    fn stop_signal(&self, index: usize) -> Signal {
        self.record.images[&self.slots[index].spec.name]
            .stop_signal
            .as_deref()
            .and_then(|s| {
                s.parse::<Signal>()
                    .ok()
                    .or_else(|| format!("SIG{s}").parse().ok())
            })
            .unwrap_or(Signal::SIGTERM)
    }

    /// Stop one running container: its preStop hook first (once), then its
    /// stop signal (once); `now` kills it (and its hook) at once.
    fn stop_container(&mut self, index: usize, now: bool) {
        let Some(pid) = self.slots[index].pid else {
            return;
        };
        let name = self.slots[index].spec.name.clone();
        if now {
            if let Some(hook) = self.slots[index].hook_pid {
                let _ = kill(Pid::from_raw(hook), Signal::SIGKILL);
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            return;
        }
        if let (Some(command), false) = (
            self.slots[index].spec.pre_stop.clone(),
            self.slots[index].hook_started,
        ) {
            self.slots[index].hook_started = true;
            let id = self.paths.container_id(&name);
            match container::spawn_in(&self.state_root(), &id, command, container::ExecIo::Quiet) {
                Ok(hook) => {
                    self.slots[index].hook_pid = Some(hook);
                    self.event(
                        "Normal",
                        "PreStop",
                        format!("Running the preStop hook of container {name}"),
                    );
                    return;
                }
                Err(error) => self.event(
                    "Warning",
                    "FailedPreStopHook",
                    format!("preStop hook of {name}: {}", chain(&error)),
                ),
            }
        }
        if self.slots[index].hook_pid.is_some() || self.slots[index].term_sent {
            return;
        }
        let signal = self.stop_signal(index);
        self.slots[index].term_sent = true;
        self.event(
            "Normal",
            "Killing",
            format!("Stopping container {name} with {signal}"),
        );
        let _ = kill(Pid::from_raw(pid), signal);
    }

    /// Advance a stop: apps, then sidecars in reverse order, then pause, then cleanup.
    fn drive_stop(&mut self) -> bool {
        let Some(stopping) = &self.stopping else {
            return false;
        };
        let (stage, deadline, killed) = (stopping.stage, stopping.deadline, stopping.killed);
        let past = Instant::now() >= deadline;
        match stage {
            Stage::Apps => {
                let alive: Vec<i32> = self
                    .slots
                    .iter()
                    .filter(|s| s.kind != Kind::Sidecar)
                    .filter_map(|s| s.pid)
                    .collect();
                if alive.is_empty() {
                    self.stopping.as_mut().expect("stopping").stage = Stage::Sidecars;
                    self.stopping.as_mut().expect("stopping").killed = false;
                    return self.drive_stop();
                }
                let apps: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].kind != Kind::Sidecar)
                    .collect();
                if past && !killed {
                    for index in apps {
                        self.stop_container(index, true);
                    }
                    self.stopping.as_mut().expect("stopping").killed = true;
                } else if !past {
                    for index in apps {
                        self.stop_container(index, false);
                    }
                }
                let _ = alive;
            }
            Stage::Sidecars => {
                let last = self
                    .slots
                    .iter()
                    .rposition(|s| s.kind == Kind::Sidecar && s.pid.is_some());
                match last {
                    None => {
                        self.stopping.as_mut().expect("stopping").stage = Stage::Pause;
                        if let Some(pid) = self.pause_pid {
                            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        }
                        return self.drive_stop();
                    }
                    Some(i) => self.stop_container(i, past),
                }
            }
            Stage::Pause => {
                if self.pause_pid.is_none() {
                    self.stopping.as_mut().expect("stopping").stage = Stage::Done;
                    return self.drive_stop();
                }
            }
            Stage::Done => return true,
        }
        false
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => status,
            };
            let Some(pid) = status.pid().map(|p| p.as_raw()) else {
                continue;
            };
            if Some(pid) == self.pause_pid {
                self.pause_pid = None;
                self.status.sandbox.pause_pid = None;
                container::destroy(&self.state_root(), &self.paths.container_id("pause"));
                if self.stopping.is_none()
                    && self.record.spec.restart_policy != RestartPolicy::Never
                {
                    // As the kubelet: kill the containers, make a new sandbox,
                    // run the init containers again, restart the app containers.
                    self.event(
                        "Warning",
                        "SandboxChanged",
                        "pause exited: the pod's namespaces are gone, the sandbox will be recreated".into(),
                    );
                    self.rebuilding = true;
                    for slot in &mut self.slots {
                        slot.next_start = None;
                        if let Some(pid) = slot.pid {
                            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        }
                    }
                } else if self.stopping.is_none() {
                    self.event(
                        "Warning",
                        "SandboxChanged",
                        "pause exited: the pod's namespaces are gone, stopping the pod".into(),
                    );
                    self.status.reason = Some("SandboxDied".into());
                    self.begin_stop(0, false);
                }
                continue;
            }
            if let Some((index, probe)) = self.slots.iter().enumerate().find_map(|(i, s)| {
                s.probes
                    .iter()
                    .position(|p| p.running.is_some_and(|(p, _)| p == pid))
                    .map(|j| (i, j))
            }) {
                let ok = matches!(status, WaitStatus::Exited(_, 0));
                self.probe_result(index, probe, ok);
                continue;
            }
            if let Some(index) = self.slots.iter().position(|s| s.hook_pid == Some(pid)) {
                self.slots[index].hook_pid = None;
                if !matches!(status, WaitStatus::Exited(_, 0)) {
                    let name = self.slots[index].spec.name.clone();
                    self.event(
                        "Warning",
                        "FailedPreStopHook",
                        format!("preStop hook of {name} ended with {status:?}"),
                    );
                }
                continue;
            }
            if let Some(index) = self.slots.iter().position(|s| s.pid == Some(pid)) {
                self.on_exit(index, status);
            }
        }
    }

    fn write_status(&mut self) {
        if !self.dirty {
            return;
        }
        self.status.init_containers = self
            .slots
            .iter()
            .filter(|s| s.kind != Kind::App)
            .map(|s| s.status.clone())
            .collect();
        self.status.containers = self
            .slots
            .iter()
            .filter(|s| s.kind == Kind::App)
            .map(|s| s.status.clone())
            .collect();
        if let Err(error) = write_json(&self.paths.status(), &self.status) {
            tracing::error!(%error, "write status");
        }
        self.dirty = false;
    }

    /// Make a new sandbox after pause died; the containers are already gone.
    fn rebuild_sandbox(&mut self) {
        self.rebuilding = false;
        let _ = nix::mount::umount2(&self.paths.shm(), nix::mount::MntFlags::MNT_DETACH);
        for slot in &mut self.slots {
            slot.round_started = false;
            slot.done = false;
            slot.next_start = None;
        }
        self.init_index = 0;
        self.apps_started = false;
        match self.start_sandbox() {
            Ok(()) => {
                self.status.sandbox.restarts += 1;
                self.set_condition("Initialized", false);
            }
            Err(error) => {
                let error = chain(&error);
                self.event(
                    "Warning",
                    "FailedCreatePodSandBox",
                    format!("cannot recreate the sandbox: {error}"),
                );
                self.status.reason = Some("SandboxDied".into());
                self.begin_stop(0, false);
            }
        }
        self.dirty = true;
    }

    fn event_loop(&mut self) {
        loop {
            self.reap();
            if self.rebuilding && self.slots.iter().all(|s| s.pid.is_none()) {
                self.rebuild_sandbox();
            }
            let finished = self.drive_stop();
            if !finished {
                self.schedule();
                if self.stopping.is_none() && !self.rebuilding {
                    self.run_probes();
                }
            }
            self.update_phase();
            let apps_running = self.apps_started
                && self
                    .slots
                    .iter()
                    .filter(|s| s.kind == Kind::App)
                    .all(|s| s.ever_started);
            if self.ready.is_some()
                && (apps_running || self.status.phase.is_terminal() || self.init_failed_never)
            {
                self.write_status();
                self.dirty = true;
                self.notify("ok");
            }
            if finished {
                self.finish();
                return;
            }
            self.write_status();
            self.wait_for_events();
        }
    }

    fn finish(&mut self) {
        let delete = self.stopping.as_ref().is_some_and(|s| s.delete);
        self.kill_everything();
        let (namespace, name) = (
            self.record.spec.namespace.clone(),
            self.record.spec.name.clone(),
        );
        // The folder, the name and the pod's network are left to podctl,
        // which waits for this process on every delete: the network is
        // pinned in the host's mount namespace, out of this one's reach.
        crate::sandbox::teardown(&self.paths, &namespace, &name, true);
        if !delete {
            self.status.terminating = false;
            self.dirty = true;
            self.write_status();
            let _ = std::fs::remove_file(self.paths.supervisor_pid());
        }
    }

    fn wait_for_events(&mut self) {
        let now = Instant::now();
        let probe_times = self.slots.iter().filter(|s| s.pid.is_some()).flat_map(|s| {
            s.probes
                .iter()
                .map(|p| p.running.map_or(p.next, |(_, deadline)| deadline))
        });
        let mut deadline: Option<Instant> = self
            .slots
            .iter()
            .filter_map(|s| s.next_start)
            .chain(probe_times)
            .min();
        if let Some(stopping) = &self.stopping {
            let d = if stopping.killed {
                now + Duration::from_millis(200)
            } else {
                stopping.deadline
            };
            deadline = Some(deadline.map_or(d, |x| x.min(d)));
        }
        let timeout = match deadline {
            Some(d) => PollTimeout::try_from(
                d.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1,
            )
            .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let mut owners: Vec<(usize, RawFd)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for output in &slot.outputs {
                owners.push((i, output.fd.as_raw_fd()));
            }
        }
        let ready: Vec<usize> = {
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            for slot in &self.slots {
                for output in &slot.outputs {
                    fds.push(PollFd::new(output.fd.as_fd(), PollFlags::POLLIN));
                }
            }
            if poll(&mut fds, timeout).is_err() {
                return;
            }
            fds.iter()
                .enumerate()
                .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                .map(|(i, _)| i)
                .collect()
        };
        for index in ready {
            if index == 0 {
                self.read_signals();
            } else if let Some((slot, _)) = owners.get(index - 1) {
                self.pump(*slot, false);
            }
        }
    }

    fn read_signals(&mut self) {
        let mut bytes = [0u8; 64 * SIGNAL_RECORD];
        let n = nix::unistd::read(self.signals.as_raw_fd(), &mut bytes).unwrap_or(0);
        for record in bytes[..n].chunks_exact(SIGNAL_RECORD) {
            if matches!(
                record[0] as i32,
                nix::libc::SIGTERM | nix::libc::SIGINT | nix::libc::SIGHUP
            ) {
                let value = u32::from_le_bytes([record[1], record[2], record[3], record[4]]);
                let grace = crate::control::decode_grace(value)
                    .unwrap_or(self.record.spec.termination_grace_period_seconds);
                self.event(
                    "Normal",
                    "Killing",
                    format!("pod deletion requested, grace period {grace}s"),
                );
                self.begin_stop(grace, true);
            }
        }
    }
}

/// The status a reader should show: the file, or Unknown when the supervisor
/// of a pod that is not finished is gone.
pub fn observed_status(paths: &PodPaths) -> Option<PodStatus> {
    let mut status: PodStatus = read_json(&paths.status()).ok()?;
    if !status.phase.is_terminal() && crate::control::supervisor_pid(paths).is_none() {
        status.phase = Phase::Unknown;
        status.reason = Some("SupervisorGone".into());
        status.message =
            Some("the pod's supervisor is not running: `podctl delete` cleans the pod up".into());
    }
    Some(status)
}

/// Container names mapped to their status, init containers first.
pub fn container_statuses(status: &PodStatus) -> BTreeMap<String, ContainerStatus> {
    status
        .init_containers
        .iter()
        .chain(&status.containers)
        .map(|s| (s.name.clone(), s.clone()))
        .collect()
}

/// Move the supervisor into a mount namespace of its own, a slave of the
/// host's: host mounts still reach it, but the pod's mounts (`/dev/shm`,
/// memory volumes, each container's overlay root) stay out of the host's
/// table and vanish with the pod's last process, even after a crash.
///
/// This is what keeps the cost of a pod flat as pods accumulate: libcontainer
/// reads `/proc/self/mountinfo` several times per container (libcgroups once
/// per controller), and overlay mounts with long layer lists are slow to
/// print; with every pod's mounts in the host's table, creating a container
/// got slower with every pod already running.
fn own_mount_namespace() -> Result<(), SupervisorError> {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(sys("give the supervisor a mount namespace of its own"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(sys("make the supervisor's mounts a slave of the host's"))
}

/// Create and start a container from a throw-away child of the supervisor,
/// returning the container's pid.
///
/// The supervisor lives as long as its pod and should stay small; creating a
/// container through libcontainer runs a great deal of code and allocates
/// (and libcontainer writes the container's `oomScoreAdj` to its caller). The
/// child does all of that in its own copy of the process and exits. The
/// container's init is the child's child (libcontainer clones it as a sibling
/// of its intermediate process), so when the child exits the kernel hands it
/// to the supervisor, the nearest child subreaper, which then reaps it and
/// reads its exit code as before.
fn create_in_child(
    create: impl FnOnce() -> Result<i32, SupervisorError>,
) -> Result<i32, SupervisorError> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("create result pipe"))?;
    // SAFETY: the supervisor is single-threaded, so the child is a complete
    // copy that may run any code the parent could.
    match unsafe { nix::unistd::fork() }.map_err(sys("fork to create a container"))? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            for signal in [
                Signal::SIGCHLD,
                Signal::SIGTERM,
                Signal::SIGINT,
                Signal::SIGHUP,
            ] {
                // SAFETY: restoring the default action installs no handler code;
                // the supervisor's handlers would write to its signal pipe.
                let _ = unsafe { sigaction(signal, &default) };
            }
            // A panic must not unwind into the supervisor's frames, which
            // this copy shares: it would run on as a second supervisor.
            let answer = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(create)) {
                Ok(Ok(pid)) => format!("ok {pid}"),
                Ok(Err(error)) => format!("error {}", chain(&error)),
                Err(_) => "error creating the container panicked (see supervisor.log)".to_string(),
            };
            let _ = File::from(write).write_all(answer.as_bytes());
            // SAFETY: _exit ends the child at once, without running the
            // destructors and exit handlers of the state it shares with the
            // supervisor (files, mounts and pipes the supervisor still owns).
            unsafe { nix::libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let mut answer = String::new();
            let read_result = File::from(read).read_to_string(&mut answer);
            while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
            read_result.map_err(|e| SupervisorError::Sys {
                step: "read the result of creating a container",
                source: e,
            })?;
            match answer.split_once(' ') {
                Some(("ok", pid)) => pid.trim().parse().map_err(|_| {
                    SupervisorError::Create(format!("bad answer from the creating child: {answer}"))
                }),
                Some(("error", message)) => Err(SupervisorError::Create(message.to_string())),
                _ => Err(SupervisorError::Create(
                    "the process creating the container died (see supervisor.log)".into(),
                )),
            }
        }
    }
}

/// Run one step of starting a pod and log how long it took (`podctl -v run`
/// shows these, so a slow start can be traced to its step).
fn step<T>(what: impl std::fmt::Display, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    tracing::debug!(
        "step {what}: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    result
}

/// An error with its causes, `outer: inner: innermost`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A container's probes, fresh for a run that started at `started`.
fn probe_states(spec: &Container, kind: Kind, started: Instant) -> Vec<crate::probe::ProbeState> {
    use crate::probe::{Kind as P, ProbeState};
    if kind == Kind::Init {
        return Vec::new();
    }
    [
        (P::Startup, &spec.startup_probe),
        (P::Liveness, &spec.liveness_probe),
        (P::Readiness, &spec.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.clone().map(|p| ProbeState::new(k, p, started)))
    .collect()
}

/// Ready: started (startup probe passed, if any) and its readiness probe passing (if any).
fn is_ready(slot: &Slot) -> bool {
    slot.probes.iter().all(|p| match p.kind {
        crate::probe::Kind::Liveness => true,
        crate::probe::Kind::Startup | crate::probe::Kind::Readiness => p.passed,
    })
}
