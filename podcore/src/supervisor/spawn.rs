//! Making processes: the sandbox, containers, and processes exec'd into
//! containers (probes, preStop hooks, clients' exec), each created from a
//! throw-away child of the supervisor ([`in_child`]).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;

use crate::container::{self, ExecIo};
use crate::image::overlay;
use crate::logs::{LineBuffer, Stream};
use crate::namespaces::Joined;
use crate::pod::PodPaths;
use crate::status::{ContainerState, EventType, Terminated, TerminatedReason, WaitingReason};

use super::lifecycle::{Ended, Kind, Life};
use super::output::{Capture, Output};
use super::{NETWORK_MADE, Supervisor, SupervisorError, chain, io, pipe, sys};

/// A process a client exec'd, until it ends and the client is answered.
pub(super) struct ExecRun {
    pub pid: i32,
    /// Killed at this time (the request's timeout).
    pub deadline: Option<Instant>,
    pub stdout: Option<Capture>,
    pub stderr: Option<Capture>,
    /// Its exit code, once reaped (output may still be draining).
    pub exit_code: Option<i32>,
}

impl Supervisor {
    pub(super) fn state_root(&self) -> PathBuf {
        PodPaths::run_dir(&self.paths.root)
    }

    /// Make the sandbox: pause, created by a child of its own while the
    /// pod's shared files are made and then the containers beside it (pause
    /// joins the pod's pinned namespaces like every container, see
    /// [`crate::namespaces`], and reads none of those files). Its answer is
    /// read by [`Self::collect_pause`]. With a shared PID namespace pause
    /// must be that namespace's PID 1, so it is waited for here, before any
    /// container.
    pub(super) fn start_sandbox(&mut self) -> Result<(), SupervisorError> {
        let null = || {
            File::options()
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(io("open /dev/null"))
        };
        let (out, err) = (null()?, null()?);
        let id = self.paths.sandbox_id();
        let dir = self.paths.sandbox_dir();
        let state_root = self.state_root();
        let joined = self.joined(None)?;
        let pending = fork_child(|| {
            // Read in the child: the supervisor keeps no copy of the mount table.
            let host = &container::Host::read();
            let rootfs = step("pause: mount root filesystem", || {
                mount_pause_rootfs(&dir, &self.record.pause.layers)
            })?;
            let spec = container::pause_spec(&self.record, &joined, &rootfs, host)?;
            let mut created = step("pause: create container", || {
                // The pod's cgroup folders are being made: no QoS parent goes meanwhile.
                let _parents = crate::cgroups::ParentsLock::shared();
                let stdio = container::Stdio::Pipes {
                    stdin: None,
                    stdout: out,
                    stderr: err,
                };
                container::create(&id, &spec, &state_root, stdio)
            })?;
            step("pause: start container", || container::start(&mut created))
                .map_err(SupervisorError::from)
        })?;
        self.pause_creating = Some(pending);
        if let Some(word) = self.network_made.take()
            && let Err(error) = step("waited for podctl to make the pod network", || {
                self.wait_for_network(word)
            })
        {
            // pause is taken apart with the rest of the pod by the caller.
            self.collect_pause();
            return Err(error);
        }
        let files = in_child(|| {
            step("sandbox files (/etc, /dev/shm, volumes)", || {
                crate::sandbox::prepare(
                    &self.record.spec,
                    &self.paths,
                    self.status.pod_ip.as_deref(),
                )
            })?;
            step("files volumes (configMap, secret, downwardAPI)", || {
                let facts = crate::downward::PodFacts::of(
                    &self.record,
                    &self.status.pod_ips,
                    self.status.host_ip.as_deref(),
                );
                crate::volumes::prepare(&self.record, &self.paths, &facts)
            })?;
            Ok(0)
        });
        if let Err(error) = files {
            // pause is taken apart with the rest of the pod by the caller.
            self.collect_pause();
            return Err(error);
        }
        let pod = &self.record.spec;
        if pod.share_process_namespace && !pod.host_pid {
            self.collect_pause();
            if let Some(error) = self.sandbox_error.take() {
                return Err(error);
            }
        }
        Ok(())
    }

    /// Wait for podctl's word that the pod's network is made, then take the
    /// pod's addresses from it (the pod's `/etc/hosts` and status need them).
    fn wait_for_network(&mut self, mut word: File) -> Result<(), SupervisorError> {
        let mut said = String::new();
        word.read_to_string(&mut said)
            .map_err(io("read podctl's word on the pod network"))?;
        if said.trim() != NETWORK_MADE {
            return Err(SupervisorError::Create(
                "podctl could not make the pod's network".into(),
            ));
        }
        (self.status.pod_ip, self.status.pod_ips) = super::report::addresses(&self.paths);
        Ok(())
    }

    /// Read pause's answer, if it is being created: its pid, or the error
    /// kept in `sandbox_error` for the loop to act on.
    pub(super) fn collect_pause(&mut self) {
        let Some(pending) = self.pause_creating.take() else {
            return;
        };
        match pending.wait() {
            Ok(pid) => {
                self.pause_pid = Some(pid);
                self.status.sandbox.pause_pid = Some(pid);
                self.event(
                    EventType::Normal,
                    "SandboxReady",
                    format!("pause started as pid {pid}"),
                );
            }
            Err(error) => self.sandbox_error = Some(error),
        }
    }

    /// Where the pod's containers find its namespaces (pause's PID
    /// namespace from `pause_pid`, when it is shared).
    fn joined(&self, pause_pid: Option<i32>) -> Result<Joined, SupervisorError> {
        Joined::of(&self.paths.pins(), &self.record.spec, pause_pid)
            .map_err(SupervisorError::Create)
    }

    /// Start the container at `index`; a failure ends its run with StartError.
    pub(super) fn start_container(&mut self, index: usize) {
        self.start_containers(&[index]);
    }

    /// Start these containers side by side: a throw-away child per
    /// container, all forked before any answer is read, so the kernel's
    /// waits of one create (cgroup migration, mounts) overlap the others'.
    pub(super) fn start_containers(&mut self, indices: &[usize]) {
        let mut creating = Vec::new();
        for &index in indices {
            if !self.pull_for_restart(index) {
                continue;
            }
            let env = match self.container_env(index) {
                Ok(env) => env,
                Err(error) => {
                    let message = error.to_string();
                    let event = ("Failed", format!("Error: {message}"));
                    let reason = WaitingReason::CreateContainerConfigError;
                    self.retry_later(index, reason, message, event);
                    continue;
                }
            };
            if let Err(message) = crate::sandbox::host_paths(&self.record, &self.slots[index].spec)
            {
                let event = ("FailedMount", message.clone());
                self.retry_later(index, WaitingReason::CreateContainerError, message, event);
                continue;
            }
            match self.begin_create(index, env) {
                Ok(c) => creating.push(c),
                Err(error) => self.started(index, Err(error)),
            }
        }
        // pause, when it is being made beside them, answers first.
        self.collect_pause();
        for c in creating {
            let index = c.index;
            let result = self.end_create(c);
            self.started(index, result);
        }
    }

    /// Record how a start went: running, or ended with StartError.
    fn started(&mut self, index: usize, result: Result<i32, SupervisorError>) {
        let name = self.slots[index].spec.name.clone();
        match result {
            Ok(pid) => {
                let now = Instant::now();
                let slot = &mut self.slots[index];
                if slot.ever_started {
                    slot.status.restart_count += 1;
                }
                slot.ever_started = true;
                slot.life = Life::Running {
                    pid,
                    since: now,
                    stop: None,
                };
                slot.status.pid = Some(pid);
                slot.status.state = ContainerState::Running {
                    started_at: Utc::now(),
                };
                slot.status.started = true;
                slot.probes = super::probes::fresh(&slot.spec, slot.kind, now);
                slot.status.ready = slot.kind != Kind::Init && super::probes::is_ready(slot);
                self.dirty = true;
                self.event(
                    EventType::Normal,
                    "Started",
                    format!("Started container {name}"),
                );
                if let Some(hook) = self.slots[index].spec.post_start.clone() {
                    self.begin_post_start(index, hook);
                }
            }
            Err(SupervisorError::CreateConfig(message)) => {
                self.cleanup_container(index);
                let event = ("Failed", format!("Error: {message}"));
                self.retry_later(
                    index,
                    WaitingReason::CreateContainerConfigError,
                    message,
                    event,
                );
            }
            Err(SupervisorError::CreateContainer(message)) => {
                self.cleanup_container(index);
                let event = ("Failed", format!("Error: {message}"));
                self.retry_later(index, WaitingReason::CreateContainerError, message, event);
            }
            Err(error) => {
                let error = chain(&error);
                tracing::warn!(container = %name, %error, "start failed");
                self.event(EventType::Warning, "Failed", format!("Error: {error}"));
                self.slots[index].ever_started = true;
                let terminated = Terminated {
                    exit_code: 128,
                    signal: None,
                    reason: TerminatedReason::StartError,
                    message: Some(error),
                    started_at: None,
                    finished_at: Utc::now(),
                };
                self.cleanup_container(index);
                let ended = Ended {
                    exit_code: 128,
                    stopped: false,
                    ran_for: None,
                };
                self.after_exit(index, ended, terminated);
            }
        }
    }

    /// With `imagePullPolicy: Always`, a restart pulls the image again, as
    /// the kubelet does (podctl pulled it for the first start), through
    /// `podctl internal` (the registry client is not in the supervisor). A new
    /// digest is used from this run on; a failed pull leaves the container
    /// waiting (`ErrImagePull`, then `ImagePullBackOff`) and retried after
    /// the back-off. False when the container must not start now.
    fn pull_for_restart(&mut self, index: usize) -> bool {
        let slot = &self.slots[index];
        let image = slot.spec.image.clone();
        if !slot.ever_started
            || slot.spec.image_pull_policy != "Always"
            || !crate::image::Reference::names_registry(&image)
        {
            return true;
        }
        let pulled = super::delegate::resolve_image(&self.record, &self.paths.root, &image, true);
        let name = self.slots[index].spec.name.clone();
        match pulled {
            Ok(resolved) => {
                if self.record.images.get(&name).map(|i| &i.digest) != Some(&resolved.digest) {
                    self.slots[index].status.image_id = resolved.digest.clone();
                    self.record.images.insert(name, resolved);
                    if let Err(error) = crate::pod::write_json(&self.paths.record(), &self.record) {
                        tracing::error!(%error, "write the pod record");
                    }
                }
                true
            }
            Err(error) => {
                let reason = match self.slots[index].status.state {
                    ContainerState::Waiting {
                        reason: WaitingReason::ErrImagePull | WaitingReason::ImagePullBackOff,
                        ..
                    } => WaitingReason::ImagePullBackOff,
                    _ => WaitingReason::ErrImagePull,
                };
                let event = ("Failed", format!("Failed to pull image {image}: {error}"));
                self.retry_later(index, reason, error, event);
                false
            }
        }
    }

    /// The container cannot be started now: it waits with `reason` and is
    /// tried again after the back-off, its restart count unchanged.
    fn retry_later(
        &mut self,
        index: usize,
        reason: WaitingReason,
        message: String,
        (event_reason, event): (&'static str, String),
    ) {
        let slot = &mut self.slots[index];
        let delay = crate::status::backoff_delay(
            self.rules.backoff_initial,
            self.rules.backoff_cap,
            slot.backoff_step,
        );
        slot.backoff_step += 1;
        let exit_code = match slot.life {
            Life::BackOff { exit_code, .. } | Life::Exited { exit_code } => exit_code,
            _ => 0,
        };
        slot.life = Life::BackOff {
            until: Instant::now() + delay,
            exit_code,
        };
        slot.status.state = ContainerState::Waiting {
            reason,
            message: Some(message),
        };
        self.dirty = true;
        self.event(EventType::Warning, event_reason, event);
    }

    /// The container's environment now, its ConfigMaps and Secrets read again.
    fn container_env(&self, index: usize) -> Result<Vec<(String, String)>, crate::env::EnvError> {
        let facts = crate::downward::PodFacts::of(
            &self.record,
            &self.status.pod_ips,
            self.status.host_ip.as_deref(),
        );
        let objects = crate::objects::Objects::new(&self.paths.root);
        crate::env::resolve(&self.slots[index].spec, &self.record.spec, &facts, &objects)
    }

    /// Fork the child that creates and starts the container at `index`
    /// (its next run), its output piped to its log.
    fn begin_create(
        &mut self,
        index: usize,
        env: Vec<(String, String)>,
    ) -> Result<Creating, SupervisorError> {
        let run =
            self.slots[index].status.restart_count + u32::from(self.slots[index].ever_started);
        let joined = self.joined(self.pause_pid)?;
        let pod = &self.record.spec;
        if pod.share_process_namespace && !pod.host_pid && joined.pid.is_none() {
            return Err(SupervisorError::Sys {
                step: "start container",
                source: std::io::Error::other("the sandbox is not running"),
            });
        }
        let name = self.slots[index].spec.name.clone();
        std::fs::create_dir_all(self.paths.logs(&name)).map_err(io("create log folder"))?;
        let options = &self.record.options;
        let log = crate::logs::LogFile::open(
            &self.paths.log_file(&name, run),
            options.log_max_size,
            options.log_max_files,
        )
        .map_err(io("open log file"))?;
        // As the kubelet keeps only the last dead container: this run's log
        // and the previous one's (`logs --previous`), no older.
        for old in 0..run.saturating_sub(1) {
            let file = self.paths.log_file(&name, old);
            for path in crate::logs::rotated_files(&file).into_iter().chain([file]) {
                let _ = std::fs::remove_file(path);
            }
        }
        let streams = Streams::new(&self.slots[index].spec, &self.paths.root)?;
        let (stdio, streams) = streams.split();
        let id = self.paths.container_id(&name);
        let dir = self.paths.container(&name);
        let state_root = self.state_root();
        let child = fork_child(|| {
            // Read in the child: the supervisor keeps no copy of the mount table.
            let host = &container::Host::read();
            let spec = &self.slots[index].spec;
            crate::sandbox::sub_paths(&self.record, &self.paths, spec)?;
            let image = self.record.images.get(&name).ok_or_else(|| {
                SupervisorError::Create(format!("container {name} has no resolved image"))
            })?;
            let rootfs = step(format_args!("{name}: mount root filesystem"), || {
                mount_rootfs(&dir, &image.layers)
            })?;
            termination_log(&self.paths.termination_log(&name))?;
            let cgroup = self.record.cgroup(&name);
            let folders = container::cgroup_mount_points(host, &cgroup);
            container::make_mount_points(&name, &self.paths.mount_points(&name), &folders)?;
            let localhost = match &spec.security.seccomp {
                crate::spec::Seccomp::Localhost(path) => {
                    Some(container::localhost_seccomp(&self.paths.root, &name, path)?)
                }
                _ => None,
            };
            let user = container::process_user(spec, image, &rootfs)?;
            let place = container::Placement {
                paths: &self.paths,
                joined: &joined,
                rootfs: &rootfs,
                user: (user.uid, user.gid),
                home: &user.home,
                env: &env,
                localhost_seccomp: localhost.as_ref(),
            };
            let spec = container::app_spec(&self.record, spec, &place, host)?;
            let mut created = step(format_args!("{name}: create container"), || {
                // The pod's cgroup folders are being made: no QoS parent goes meanwhile.
                let _parents = crate::cgroups::ParentsLock::shared();
                container::create(&id, &spec, &state_root, stdio)
            })?;
            step(format_args!("{name}: start container"), || {
                container::start(&mut created)
            })
            .map_err(SupervisorError::from)
        })?;
        Ok(Creating {
            index,
            child,
            log,
            streams,
        })
    }

    /// The answer of a create: the container's pid, its output now read by the loop.
    fn end_create(&mut self, creating: Creating) -> Result<i32, SupervisorError> {
        let Creating {
            index,
            child,
            log,
            streams,
        } = creating;
        let pid = child.wait()?;
        let (outputs, input) = match streams {
            ParentStreams::Pipes { outputs, input } => {
                let [out_read, err_read] = outputs;
                let outputs = vec![
                    Output::new(out_read, LineBuffer::new(Stream::Stdout)),
                    Output::new(err_read, LineBuffer::new(Stream::Stderr)),
                ];
                (outputs, input.map(super::Input::Pipe))
            }
            ParentStreams::Console {
                dir: _dir,
                listener,
            } => {
                let master = container::console::receive_master(&listener, CONSOLE_WAIT)
                    .map_err(io("receive the container's terminal"))?;
                set_nonblocking(&master)?;
                let read = master.try_clone().map_err(io("copy the terminal's fd"))?;
                let outputs = vec![Output::new(read, LineBuffer::new(Stream::Stdout))];
                (outputs, Some(super::Input::Terminal(master)))
            }
        };
        let slot = &mut self.slots[index];
        slot.oom_before = crate::cgroups::oom_kills(&slot.cgroup).unwrap_or(0);
        slot.outputs = outputs;
        slot.input = input;
        slot.log = Some(log);
        Ok(pid)
    }

    /// Run `command` in the running container at `index` (a probe, a hook
    /// or a client's exec); the supervisor becomes its parent.
    pub(super) fn exec_in(
        &self,
        index: usize,
        command: Vec<String>,
        io: ExecIo,
    ) -> Result<i32, SupervisorError> {
        let id = self.paths.container_id(&self.slots[index].spec.name);
        let state_root = self.state_root();
        in_child(move || Ok(container::spawn_in(&state_root, &id, command, io)?))
    }

    /// Remove what is left of a container's run: its libcontainer state and root.
    pub(super) fn cleanup_container(&mut self, index: usize) {
        let name = self.slots[index].spec.name.clone();
        container::destroy(&self.state_root(), &self.paths.container_id(&name));
        self.slots[index].input = None;
        let _ = overlay::unmount_rootfs(&self.paths.container(&name).join("rootfs"));
    }
}

/// How long the runtime has to send a container's terminal.
const CONSOLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A container's standard streams as they are being made: the child's ends
/// go to the runtime, the supervisor keeps the others.
struct Streams {
    child: container::Stdio,
    parent: ParentStreams,
}

/// The supervisor's ends of a container's streams.
enum ParentStreams {
    /// The read ends of stdout and stderr, and the write end of stdin (`stdin: true`).
    Pipes {
        outputs: [OwnedFd; 2],
        input: Option<OwnedFd>,
    },
    /// The socket the runtime sends the terminal's master to (`tty: true`),
    /// in its private folder (removed when dropped).
    Console {
        dir: tempfile::TempDir,
        listener: std::os::unix::net::UnixListener,
    },
}

impl Streams {
    fn new(spec: &crate::spec::Container, root: &std::path::Path) -> Result<Self, SupervisorError> {
        if spec.tty {
            let dir =
                container::console::socket_dir(root).map_err(io("make the console folder"))?;
            let socket = dir.path().join("s");
            let listener = std::os::unix::net::UnixListener::bind(&socket)
                .map_err(io("listen for the container's terminal"))?;
            return Ok(Self {
                child: container::Stdio::Console(socket),
                parent: ParentStreams::Console { dir, listener },
            });
        }
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        for fd in [&out_read, &err_read] {
            set_nonblocking(fd)?;
        }
        let (stdin, input) = if spec.stdin {
            let (read, write) = pipe()?;
            (Some(read), Some(write))
        } else {
            (None, None)
        };
        Ok(Self {
            child: container::Stdio::Pipes {
                stdin,
                stdout: out_write,
                stderr: err_write,
            },
            parent: ParentStreams::Pipes {
                outputs: [out_read, err_read],
                input,
            },
        })
    }

    fn split(self) -> (container::Stdio, ParentStreams) {
        (self.child, self.parent)
    }
}

/// An empty termination message file for a run, writable by the
/// container's user whoever it is (as the kubelet makes it).
fn termination_log(path: &std::path::Path) -> Result<(), SupervisorError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, b"").map_err(io("create the termination message file"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(io("chmod the termination message file"))
}

/// Mount a fresh overlay root filesystem in `dir`: a restarted container
/// gets a new writable layer, as in Kubernetes.
fn mount_rootfs(dir: &std::path::Path, layers: &[PathBuf]) -> Result<PathBuf, SupervisorError> {
    let rootfs = dir.join("rootfs");
    overlay::unmount_rootfs(&rootfs)?;
    let _ = std::fs::remove_dir_all(dir.join("upper"));
    let _ = std::fs::remove_dir_all(dir.join("work"));
    for sub in ["upper", "work", "rootfs"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io("create container folder"))?;
    }
    overlay::mount_rootfs(layers, &dir.join("upper"), &dir.join("work"), &rootfs)?;
    Ok(rootfs)
}

/// pause's root: its image's one layer itself, read-only, when the layer
/// has the `/dev` the runtime mounts on (this podctl's pause image); else,
/// for a pause image packed by an older podctl, an overlay as any container's.
fn mount_pause_rootfs(
    dir: &std::path::Path,
    layers: &[PathBuf],
) -> Result<PathBuf, SupervisorError> {
    let [layer] = layers else {
        return mount_rootfs(dir, layers);
    };
    if !layer.join("dev").is_dir() {
        return mount_rootfs(dir, layers);
    }
    let rootfs = dir.join("rootfs");
    overlay::unmount_rootfs(&rootfs)?;
    std::fs::create_dir_all(&rootfs).map_err(io("create container folder"))?;
    overlay::mount_read_only(layer, &rootfs)?;
    Ok(rootfs)
}

pub(super) fn set_nonblocking(fd: &OwnedFd) -> Result<(), SupervisorError> {
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    )
    .map(drop)
    .map_err(sys("set pipe non-blocking"))
}

/// Run `create` (which makes a process through libcontainer) in a
/// throw-away child of the supervisor and return the new process's pid.
///
/// The supervisor lives as long as its pod and should stay small; creating a
/// container through libcontainer runs a great deal of code and allocates
/// (and libcontainer writes the container's `oomScoreAdj` to its caller). The
/// child does all of that in its own copy of the process and exits. The new
/// process is the child's child (libcontainer clones it as a sibling of its
/// intermediate process), so when the child exits the kernel hands it to the
/// supervisor, the nearest child subreaper, which then reaps it and reads
/// its exit code.
fn in_child(create: impl FnOnce() -> Result<i32, SupervisorError>) -> Result<i32, SupervisorError> {
    fork_child(create)?.wait()
}

/// A container being created by a throw-away child.
struct Creating {
    index: usize,
    child: Pending,
    log: crate::logs::LogFile,
    /// The read ends of its stdout and stderr.
    streams: ParentStreams,
}

/// A throw-away child at work; [`Pending::wait`] reads its answer (the new
/// process's pid, or why it could not be made) and reaps it.
pub(super) struct Pending {
    child: nix::unistd::Pid,
    answer: OwnedFd,
}

/// The first half of [`in_child`]: fork the child and return at once.
fn fork_child(
    create: impl FnOnce() -> Result<i32, SupervisorError>,
) -> Result<Pending, SupervisorError> {
    let (read, write) = pipe()?;
    // SAFETY: the supervisor is single-threaded, so the child is a complete
    // copy that may run any code the parent could.
    match unsafe { nix::unistd::fork() }.map_err(sys("fork to create a process"))? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            // The supervisor's handlers would write to its signal pipe.
            super::signals::restore_defaults();
            let me = std::process::id();
            // A panic must not unwind into the supervisor's frames, which
            // this copy shares: it would run on as a second supervisor.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(create));
            if std::process::id() != me {
                // A process libcontainer cloned from this child (its init
                // shares these frames) panicked and unwound to here: the
                // answer is this child's to give, from libcontainer's report.
                // SAFETY: as below, _exit runs no destructor of shared state.
                unsafe { nix::libc::_exit(1) }
            }
            let answer = match outcome {
                Ok(Ok(pid)) => format!("ok {pid}"),
                Ok(Err(error)) => format!("{} {}", answer_word(&error), chain(&error)),
                Err(_) => "error the child process panicked (see supervisor.log)".to_string(),
            };
            let _ = std::io::Write::write_all(&mut File::from(write), answer.as_bytes());
            // SAFETY: _exit ends the child at once, without running the
            // destructors and exit handlers of the state it shares with the
            // supervisor (files, mounts and pipes the supervisor still owns).
            unsafe { nix::libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            Ok(Pending {
                child,
                answer: read,
            })
        }
    }
}

impl Pending {
    /// Wait for the child's answer and reap it.
    fn wait(self) -> Result<i32, SupervisorError> {
        let mut answer = String::new();
        let read_result = File::from(self.answer).read_to_string(&mut answer);
        while let Err(nix::errno::Errno::EINTR) = waitpid(self.child, None) {}
        read_result.map_err(io("read the answer of a child process"))?;
        match answer.split_once(' ') {
            Some(("ok", pid)) => pid.trim().parse().map_err(|_| {
                SupervisorError::Create(format!("bad answer from the creating child: {answer}"))
            }),
            Some(("error", message)) => Err(SupervisorError::Create(message.to_string())),
            Some(("create-error", message)) => {
                Err(SupervisorError::CreateContainer(message.to_string()))
            }
            Some(("config-error", message)) => {
                Err(SupervisorError::CreateConfig(message.to_string()))
            }
            _ => Err(SupervisorError::Create(
                "the child process died before it answered (see supervisor.log)".into(),
            )),
        }
    }
}

/// How a child's failure is told: `config-error` (settings that cannot be
/// met), `error` (the start itself failed: StartError) or `create-error`
/// (anything before the start).
fn answer_word(error: &SupervisorError) -> &'static str {
    use container::ContainerError;
    match error {
        SupervisorError::Container(ContainerError::Config { .. }) => "config-error",
        SupervisorError::Container(ContainerError::Runtime { step: "start", .. }) => "error",
        _ => "create-error",
    }
}

/// Run one step of starting a pod and log how long it took (`podctl -v run`
/// shows these, so a slow start can be traced to its step).
pub(super) fn step<T>(what: impl std::fmt::Display, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    tracing::debug!(
        "step {what}: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    result
}
