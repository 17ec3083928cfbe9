//! The per-pod supervisor: one small, single-threaded process per pod (the
//! role of conmon or a containerd shim, for a whole pod). It creates the
//! sandbox and the containers through libcontainer from throw-away children
//! of its own ([`spawn`]), is their parent once those exit and reads their
//! exit codes ([`reap`]); it restarts containers by the state machine in
//! [`lifecycle`], runs probes ([`probes`]), writes each container's output
//! to CRI log files ([`output`]), keeps `status.json` current ([`report`]),
//! answers its control socket ([`server`]), hands image pulls and container
//! checks to podctl ([`delegate`]) and stops the pod gracefully
//! ([`stopping`], [`teardown`]).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Instant;

use nix::fcntl::OFlag;

use crate::control::StartReport;
use crate::pod::{PodPaths, PodRecord, read_json};
use crate::probe::ProbeState;
use crate::spec::Container;
use crate::status::{ContainerStatus, PodStatus};

mod delegate;
pub mod lifecycle;
mod output;
mod probes;
mod reap;
mod report;
mod server;
mod signals;
mod spawn;
mod stopping;
mod teardown;

pub use report::{container_statuses, observed_status};

use lifecycle::{Kind, Life, PodStage, Rules};

/// Why the supervisor could not run the pod.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{0}")]
    Pod(#[from] crate::pod::PodError),
    #[error("{0}")]
    Lock(#[from] crate::control::LockError),
    #[error("{0}")]
    Container(#[from] crate::container::ContainerError),
    #[error("{0}")]
    Image(#[from] crate::image::Error),
    #[error("{0}")]
    Volume(#[from] crate::volumes::VolumeError),
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
    /// A container could not be made before its start (a mount, its
    /// spec): it waits with `CreateContainerError`.
    #[error("{0}")]
    CreateContainer(String),
    /// A container's settings cannot be met: it waits with
    /// `CreateContainerConfigError`.
    #[error("{0}")]
    CreateConfig(String),
}

fn sys(step: &'static str) -> impl FnOnce(nix::errno::Errno) -> SupervisorError {
    move |e| SupervisorError::Sys {
        step,
        source: e.into(),
    }
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> SupervisorError {
    move |source| SupervisorError::Sys { step, source }
}

/// One container of the pod: its spec, its life and what goes with a run.
struct Slot {
    spec: Container,
    kind: Kind,
    life: Life,
    /// What `status.json` shows of it.
    status: ContainerStatus,
    /// The back-off step of its next restart.
    backoff_step: u32,
    /// It ran at least once (later starts count as restarts).
    ever_started: bool,
    probes: Vec<ProbeState>,
    outputs: Vec<output::Output>,
    log: Option<crate::logs::LogFile>,
    /// OOM kills in its cgroup before this run.
    oom_before: u64,
    cgroup: String,
    /// Its postStart hook's process while it runs: the container is not
    /// Running (nor probed) until it returns.
    post_start: Option<i32>,
    /// Where `podctl attach -i` writes: its stdin or its terminal.
    input: Option<Input>,
}

/// A running container's input end.
enum Input {
    /// The write end of its stdin pipe (`stdin: true`).
    Pipe(std::os::fd::OwnedFd),
    /// Its terminal's master (`tty: true`).
    Terminal(std::os::fd::OwnedFd),
}

/// The sandbox's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sandbox {
    Running,
    /// pause died: the containers are being killed so it can be made anew.
    Rebuilding,
    /// The pod is stopping; `delete`: podctl removes it afterwards.
    Stopping {
        stage: PodStage,
        deadline: Instant,
        delete: bool,
    },
}

/// The supervisor of one pod.
pub struct Supervisor {
    paths: PodPaths,
    record: PodRecord,
    rules: Rules,
    status: PodStatus,
    slots: Vec<Slot>,
    pause_pid: Option<i32>,
    /// pause while its child creates it, beside the first containers.
    pause_creating: Option<spawn::Pending>,
    /// Why pause could not be made, for the loop to act on.
    sandbox_error: Option<SupervisorError>,
    sandbox: Sandbox,
    /// The init containers are done and the app containers were started.
    initialized: bool,
    /// Where podctl waits for the [`StartReport`].
    ready: Option<File>,
    /// Where podctl says the pod's network is made (`go`), or closes
    /// without a word when it could not make it: podctl makes the network
    /// while this process starts and pause is created, which need none.
    network_made: Option<File>,
    /// This supervisor took over a pod whose supervisor died (`podctl recover`).
    recovering: bool,
    signals: OwnedFd,
    server: server::Server,
    execs: Vec<spawn::ExecRun>,
    /// Attached clients: a container's name and the connection its output
    /// is copied to as it comes.
    attachments: Vec<(String, std::os::unix::net::UnixStream)>,
    /// When a client or signal asked the pod to stop (for `-v` timings).
    stop_asked: Option<Instant>,
    /// When to shed what starting took ([`shed_startup_memory`]): a second
    /// after the start was reported, once the first turns of the loop (status
    /// writes, the create children reaped) have run code the start did not.
    shed_at: Option<Instant>,
    dirty: bool,
}

/// The file name of the supervisor's binary, which `podctl run` starts for every pod.
pub const SUPERVISOR_BINARY: &str = "podctl-supervisor";

/// The environment variable through which `podctl run` hands the supervisor
/// the read end of the pipe where it says the pod's network is made.
pub const NETWORK_MADE_FD: &str = "PODCTL_NETWORK_MADE_FD";

/// What `podctl run` writes there once the pod's network is made (and the
/// pod's record is on disk).
pub const NETWORK_MADE: &str = "network made";

/// The environment variable through which `podctl run` hands the supervisor
/// a pipe holding the pod's record (`pod.json`'s bytes): the supervisor
/// starts while podctl's write of the file is still on its way to the disk.
pub const RECORD_FD: &str = "PODCTL_RECORD_FD";

/// Run the supervisor of pod `uid` under `root` until the pod is deleted or
/// completes; `ready` gets the [`StartReport`]. With `network_made`, the
/// containers wait for podctl's word there that the pod's network is made.
pub fn run(
    root: &Path,
    uid: &str,
    ready: Option<File>,
    network_made: Option<File>,
    record_pipe: Option<File>,
) -> Result<(), SupervisorError> {
    let _ = nix::unistd::setsid();
    nix::sys::prctl::set_child_subreaper(true).map_err(sys("become a child subreaper"))?;
    spawn::step(
        "supervisor: a mount namespace of its own",
        own_mount_namespace,
    )?;
    let signals = signals::install()?;
    let paths = PodPaths::new(root, uid);
    spawn::step(
        "supervisor: the pod's own pins kept, the others dropped",
        || crate::namespaces::keep_own(root, uid, &paths.pins()),
    )?;
    // Held until this process ends: how podctl knows the supervisor lives.
    let _lock = crate::control::SupervisorLock::acquire(&paths)?;
    std::fs::write(paths.supervisor_pid(), format!("{}\n", std::process::id()))
        .map_err(io("write supervisor.pid"))?;
    let server = server::Server::bind(&paths.control_socket())?;
    let started = Instant::now();
    let record: PodRecord = match record_pipe {
        Some(mut pipe) => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut pipe, &mut bytes)
                .map_err(io("read the pod's record from podctl"))?;
            serde_json::from_slice(&bytes).map_err(|source| {
                SupervisorError::Pod(crate::pod::PodError::Json {
                    what: "decode the pod's record from podctl".into(),
                    source,
                })
            })?
        }
        None => read_json(&paths.record())?,
    };
    let previous: Option<PodStatus> = read_json(&paths.status()).ok();
    let mut supervisor = Supervisor::new(paths, record, ready, signals, server);
    supervisor.network_made = network_made;
    tracing::debug!(
        "step supervisor: record read, status made: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(previous) = previous {
        supervisor.take_over(previous);
    }
    if let Err(error) = supervisor.start_sandbox() {
        supervisor.fail_setup(&error);
        return Err(error);
    }
    supervisor.event_loop()
}

impl Supervisor {
    fn new(
        paths: PodPaths,
        record: PodRecord,
        ready: Option<File>,
        signals: OwnedFd,
        server: server::Server,
    ) -> Self {
        let rules = Rules {
            policy: record.spec.restart_policy,
            mode: record.options.restart_mode,
            backoff_initial: std::time::Duration::from_millis(record.options.backoff_initial_ms),
            backoff_cap: std::time::Duration::from_millis(record.options.backoff_cap_ms),
        };
        let status = report::new_status(&paths, &record);
        let mut supervisor = Self {
            paths,
            record,
            rules,
            status,
            slots: Vec::new(),
            pause_pid: None,
            pause_creating: None,
            sandbox_error: None,
            sandbox: Sandbox::Running,
            initialized: false,
            ready,
            network_made: None,
            recovering: false,
            signals,
            server,
            execs: Vec::new(),
            attachments: Vec::new(),
            stop_asked: None,
            shed_at: None,
            dirty: true,
        };
        let declared: Vec<(Container, bool)> = supervisor
            .record
            .spec
            .init_containers
            .iter()
            .map(|c| (c.clone(), true))
            .chain(
                supervisor
                    .record
                    .spec
                    .containers
                    .iter()
                    .map(|c| (c.clone(), false)),
            )
            .collect();
        for (container, init) in declared {
            supervisor.add_slot(container, init, Life::Waiting);
        }
        supervisor
    }

    /// A container's slot, placed by its kind: init containers before apps.
    fn add_slot(&mut self, spec: Container, init: bool, life: Life) {
        let kind = match (init, spec.is_sidecar()) {
            (true, true) => Kind::Sidecar,
            (true, false) => Kind::Init,
            _ => Kind::App,
        };
        let status = report::new_container_status(&self.paths, &self.record, &spec, kind, life);
        let slot = Slot {
            cgroup: self.record.cgroup(&spec.name),
            spec,
            kind,
            life,
            status,
            backoff_step: 0,
            ever_started: false,
            probes: Vec::new(),
            outputs: Vec::new(),
            log: None,
            post_start: None,
            input: None,
            oom_before: 0,
        };
        let at = if kind == Kind::App {
            self.slots.len()
        } else {
            self.slots
                .iter()
                .take_while(|s| s.kind != Kind::App)
                .count()
        };
        self.slots.insert(at, slot);
        self.dirty = true;
    }

    fn slot(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.name == name)
    }

    /// The kind and life of every container, for the pure rules.
    fn lives(&self) -> Vec<(Kind, Life)> {
        self.slots.iter().map(|s| (s.kind, s.life)).collect()
    }

    fn stopping(&self) -> bool {
        matches!(self.sandbox, Sandbox::Stopping { .. })
    }

    /// The loop: gather what happened, let the rules decide, carry it out.
    /// An error: the pod's first sandbox could not be made (podctl is told).
    fn event_loop(&mut self) -> Result<(), SupervisorError> {
        loop {
            self.reap();
            if self.sandbox == Sandbox::Rebuilding
                && self.slots.iter().all(|s| !s.life.is_running())
            {
                self.rebuild_sandbox();
            }
            self.drive_stops();
            let finished = self.drive_pod_stop();
            if !finished {
                self.schedule();
                self.collect_pause();
                if let Some(error) = self.sandbox_error.take() {
                    if self.ready.is_some() {
                        self.fail_setup(&error);
                        return Err(error);
                    }
                    self.sandbox_failed(&error);
                    continue;
                }
                self.run_probes();
            }
            self.update_phase();
            self.answer_waiting();
            self.report_start();
            if finished {
                self.finish();
                return Ok(());
            }
            self.write_status();
            if self.shed_at.is_some_and(|at| Instant::now() >= at) {
                self.shed_at = None;
                shed_startup_memory();
            }
            self.wait_for_events();
        }
    }

    /// Start what the rules say is due.
    fn schedule(&mut self) {
        if self.stopping() || self.sandbox == Sandbox::Rebuilding || self.init_failed_never() {
            return;
        }
        let due = lifecycle::due(&self.lives(), self.initialized, Instant::now());
        // Init containers and sidecars one by one, in order; the apps side by side.
        let (apps, ordered): (Vec<usize>, Vec<usize>) = due
            .start
            .into_iter()
            .partition(|&i| self.slots[i].kind == Kind::App);
        for index in ordered {
            self.start_container(index);
        }
        self.start_containers(&apps);
        if due.initialized && !self.initialized {
            self.initialized = true;
            self.set_condition(crate::status::ConditionType::Initialized, true);
        }
    }

    /// An init container failed under `restartPolicy: Never`: the pod fails.
    fn init_failed_never(&self) -> bool {
        self.rules.policy == crate::spec::RestartPolicy::Never
            && self.slots.iter().any(|s| {
                s.kind == Kind::Init
                    && matches!(s.life, Life::Exited { exit_code } if exit_code != 0)
            })
    }

    /// Tell podctl, once, that the pod started: every app container ran
    /// (or the pod already ended, or a container waits for a ConfigMap or
    /// Secret that may come later: the pod is made and shows why it waits).
    fn report_start(&mut self) {
        if self.ready.is_none() {
            return;
        }
        let apps_ran = self.initialized
            && self
                .slots
                .iter()
                .filter(|s| s.kind == Kind::App && s.life != Life::Created)
                .all(|s| s.ever_started);
        let blocked = self.slots.iter().any(|s| {
            matches!(
                s.status.state,
                crate::status::ContainerState::Waiting {
                    reason: crate::status::WaitingReason::CreateContainerConfigError
                        | crate::status::WaitingReason::CreateContainerError,
                    ..
                }
            )
        });
        if apps_ran || blocked || self.status.phase.is_terminal() || self.init_failed_never() {
            self.write_status();
            self.dirty = true;
            self.notify(&StartReport::Started);
            self.shed_at = Some(Instant::now() + SHED_AFTER);
        }
    }

    fn notify(&mut self, report: &StartReport) {
        if let Some(mut ready) = self.ready.take() {
            use std::io::Write;
            let mut line = serde_json::to_vec(report).unwrap_or_default();
            line.push(b'\n');
            let _ = ready.write_all(&line);
        }
    }

    /// Sleep until a signal, a container's output, a client or a timer.
    fn wait_for_events(&mut self) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let now = Instant::now();
        let deadline = self.next_timer();
        let timeout = match deadline {
            Some(d) => PollTimeout::try_from(
                d.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1,
            )
            .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let outputs: Vec<(output::Source, std::os::fd::RawFd)> = self.output_fds();
        let connections = self.server.fds();
        let ready: Vec<usize> = {
            let mut fds = vec![
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.server.listener_fd(), PollFlags::POLLIN),
            ];
            // SAFETY: every fd polled is owned by `self` and stays open for this call.
            let borrowed = |fd| unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            for (_, fd) in &outputs {
                fds.push(PollFd::new(borrowed(*fd), PollFlags::POLLIN));
            }
            for fd in &connections {
                fds.push(PollFd::new(borrowed(*fd), PollFlags::POLLIN));
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
            match index {
                0 => {
                    if signals::drain(&self.signals) {
                        self.stop_requested(None);
                    }
                }
                1 => self.server.accept(),
                i if i - 2 < outputs.len() => self.pump(outputs[i - 2].0, false),
                i => {
                    let fd = connections[i - 2 - outputs.len()];
                    self.serve(fd);
                }
            }
        }
    }

    /// The earliest timer: a restart, a probe, a stop's deadline, an exec's timeout.
    fn next_timer(&self) -> Option<Instant> {
        let probes = self
            .slots
            .iter()
            .filter(|s| s.life.is_running())
            .flat_map(|s| {
                s.probes
                    .iter()
                    .map(|p| p.running.map_or(p.next, |(_, deadline)| deadline))
            });
        let stops = self.slots.iter().filter_map(|s| s.life.stop_deadline());
        // After SIGKILL: look again soon (the kernel is tearing it down).
        let killed = self.slots.iter().filter_map(|s| match s.life {
            Life::Running {
                stop: Some(stop), ..
            } if stop.stage == lifecycle::StopStage::Killed => {
                Some(Instant::now() + std::time::Duration::from_millis(200))
            }
            _ => None,
        });
        let pod = match self.sandbox {
            Sandbox::Stopping { deadline, .. } => Some(deadline),
            _ => None,
        };
        self.slots
            .iter()
            .filter_map(|s| s.life.restart_at())
            .chain(probes)
            .chain(stops.filter(|d| *d > Instant::now()))
            .chain(killed)
            .chain(pod.filter(|d| *d > Instant::now()))
            .chain(self.execs.iter().filter_map(|e| e.deadline))
            .chain(self.shed_at)
            .min()
    }
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

/// How long after the start report [`shed_startup_memory`] runs.
const SHED_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Give back what starting the pod took and the loop does not need: the
/// heap's free pages (`malloc_trim`), and this process's mappings of the
/// binary's and libraries' code and read-only data (every supervisor maps
/// the same pages of the page cache; each maps what it touched while
/// starting, 64 kB around every fault, megabytes). Those pages are never
/// written, so dropping the mappings only means the pages the loop uses are
/// mapped again, from the page cache, on use. Mappings holding a page this
/// process wrote (relocated data) are kept: dropping them would lose it.
fn shed_startup_memory() {
    let ranges = std::fs::read_to_string("/proc/self/smaps")
        .map(|smaps| sheddable(&smaps))
        .unwrap_or_default();
    for (start, end) in ranges {
        // SAFETY: the range is a whole read-only file mapping of this
        // process none of whose pages was written (`sheddable`);
        // MADV_DONTNEED drops its page table entries and the unchanged
        // pages are faulted in again from the file when used.
        unsafe {
            nix::libc::madvise(
                start as *mut nix::libc::c_void,
                end - start,
                nix::libc::MADV_DONTNEED,
            )
        };
    }
    // Last: the text just read is freed by now.
    // SAFETY: malloc_trim only releases free heap memory back to the kernel.
    unsafe { nix::libc::malloc_trim(0) };
}

/// The address ranges of a `/proc/self/smaps` text that are read-only,
/// private file mappings (code and read-only data) without an anonymous
/// page, i.e. never written to.
fn sheddable(smaps: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            current = (matches!(perms, "r-xp" | "r--p") && inode != "0").then_some((start, end));
            continue;
        }
        if first == "Anonymous:"
            && let Some(range) = current.take()
            && fields.next() == Some("0")
        {
            ranges.push(range);
        }
    }
    ranges
}

/// Create a non-blocking, close-on-exec pipe.
fn pipe() -> Result<(OwnedFd, OwnedFd), SupervisorError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("create pipe"))
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

#[cfg(test)]
mod tests {
    use super::sheddable;

    #[test]
    fn only_unwritten_read_only_file_mappings_are_shed() {
        let smaps = "\
00200000-0046e000 r--p 00000000 fe:00 4242                               /usr/bin/podctl-supervisor
Rss:                 512 kB
Anonymous:             0 kB
VmFlags: rd mr mw me sd
0046e000-00ac8000 r-xp 0026e000 fe:00 4242                               /usr/bin/podctl-supervisor
Rss:                1620 kB
Anonymous:             0 kB
00ac8000-00b49000 r--p 008c8000 fe:00 4242                               /usr/bin/podctl-supervisor
Rss:                 164 kB
Anonymous:            20 kB
00b49000-00b4e000 rw-p 00949000 fe:00 4242                               /usr/bin/podctl-supervisor
Anonymous:            12 kB
03b40000-03b71000 rw-p 00000000 00:00 0                                  [heap]
Anonymous:            72 kB
7ffd1000-7ffd3000 r-xp 00000000 00:00 0                                  [vdso]
Anonymous:             0 kB
";
        assert_eq!(
            sheddable(smaps),
            vec![(0x0020_0000, 0x0046_e000), (0x0046_e000, 0x00ac_8000)],
            "code and unwritten read-only data; not the relocated data, the heap or the vdso"
        );
    }
}
