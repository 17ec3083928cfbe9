//! `podctl run`, `get`, `delete`, `logs`, `exec`, `recover` and the pages
//! that show a pod; a running pod is asked through its supervisor's control socket.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podcore::control;
use podcore::image::Store;
use podcore::pod::{self, PodPaths, PodRecord, RunOptions};
use podcore::spec::{self, Format};
use podcore::status::{ContainerState, Phase, PodStatus};
use podcore::supervisor;

use crate::output;

/// The environment variable carrying the readiness pipe's fd to the supervisor.
const READY_FD: &str = "PODCTL_READY_FD";
/// How much the supervisor logs to `supervisor.log` (read by podctl-supervisor).
const SUPERVISOR_LOG: &str = "PODCTL_SUPERVISOR_LOG";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: i32) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// `podctl run` options.
pub struct RunArgs {
    pub file: PathBuf,
    pub detach: bool,
    pub remove: bool,
    pub backoff: Option<(Duration, Duration)>,
    pub allow_host_paths: bool,
    pub allow_privileged: bool,
    pub allow_host_namespaces: bool,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub cni: podcore::network::CniPaths,
    pub restart_mode: podcore::pod::RestartMode,
}

/// Parse a size as Kubernetes writes quantities (`10Mi`, `512Ki`, `1G`, bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = podcore::spec::quantity::memory_bytes(text)?;
    if bytes < 4096 {
        return Err(format!("{text:?} is too small: at least 4Ki"));
    }
    Ok(bytes)
}

/// Parse `A,B` back-off durations (`1s,60s`).
pub fn parse_backoff(text: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = text
        .split_once(',')
        .ok_or("expected INITIAL,CAP such as 1s,60s")?;
    let a = humantime::parse_duration(a.trim()).map_err(|e| format!("initial delay {a:?}: {e}"))?;
    let b = humantime::parse_duration(b.trim()).map_err(|e| format!("cap {b:?}: {e}"))?;
    if a.is_zero() || b < a {
        return Err("the initial delay must be positive and at most the cap".into());
    }
    Ok((a, b))
}

pub fn run(
    root: &Path,
    store: &Store,
    registries: &crate::RegistryArgs,
    args: RunArgs,
) -> anyhow::Result<i32> {
    // Before anything is made: a pod without its supervisor cannot start.
    let supervisor = supervisor_binary()?;
    let (text, format) = if args.file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read the manifest from stdin")?;
        let format = if toml_like(&text) {
            Format::Toml
        } else {
            Format::Yaml
        };
        (text, format)
    } else {
        let text = std::fs::read_to_string(&args.file)
            .with_context(|| format!("read {}", args.file.display()))?;
        (text, Format::from_path(&args.file))
    };
    let parse_started = Instant::now();
    let parsed = spec::parse(&text, format)
        .with_context(|| format!("invalid manifest {}", args.file.display()))?;
    tracing::debug!(
        "step parse and validate the manifest: {}",
        since(parse_started)
    );
    let mut options = RunOptions {
        allow_host_paths: args.allow_host_paths,
        allow_privileged: args.allow_privileged,
        allow_host_namespaces: args.allow_host_namespaces,
        log_max_size: args.log_max_size,
        log_max_files: args.log_max_files,
        cni: args.cni,
        restart_mode: args.restart_mode,
        registries: registries.options(),
        ..RunOptions::default()
    };
    // Every pod of the file is checked before any is made.
    for p in &parsed {
        podcore::runtime::check_permitted(&p.pod, &options)
            .with_context(|| format!("create pod {}", p.pod.name))?;
    }
    // Images by each container's imagePullPolicy, before any pod is made.
    let mut pulled = std::collections::BTreeSet::new();
    for p in &parsed {
        let lists = [
            ("initContainers", &p.pod.init_containers),
            ("containers", &p.pod.containers),
        ];
        for (field, list) in lists {
            for (i, c) in list.iter().enumerate() {
                let at = || format!("create pod {}: spec.{field}[{i}].image", p.pod.name);
                let present = store.resolve(&c.image).is_ok();
                use podcore::image::registry::PullDecision;
                match podcore::image::registry::pull_decision(
                    &c.image_pull_policy,
                    &c.image,
                    present,
                ) {
                    PullDecision::UseLocal => {}
                    PullDecision::NeverPull => bail!(NotFound(format!(
                        "{}: image {} is not present and imagePullPolicy is Never (ErrImageNeverPull): \
                         pull it with `podctl image pull {}` or import it with `podctl image import PATH --name {}`",
                        at(),
                        c.image,
                        c.image,
                        c.image
                    ))),
                    PullDecision::Pull if pulled.contains(&c.image) => {}
                    PullDecision::Pull => {
                        registries
                            .registry()?
                            .pull(store, &c.image)
                            .map_err(anyhow::Error::from)
                            .with_context(|| {
                                format!(
                                    "{} (ErrImagePull; a local image is imported with `podctl image import PATH --name {}`)",
                                    at(),
                                    c.image
                                )
                            })?;
                        pulled.insert(c.image.clone());
                    }
                }
            }
        }
    }
    if let Some((initial, cap)) = args.backoff {
        options.backoff_initial_ms = initial.as_millis() as u64;
        options.backoff_cap_ms = cap.as_millis() as u64;
    }
    let mut started = Vec::new();
    for p in parsed {
        for warning in &p.warnings {
            eprintln!("warning: {warning}");
        }
        for note in &p.notes {
            eprintln!("note: {note}");
        }
        let name = p.pod.name.clone();
        let progress = output::spinner();
        progress.set_message(format!("preparing pod {name}: images and their layers"));
        progress.tick();
        let prepare_started = Instant::now();
        let prepared = podcore::runtime::prepare(root, store, p.pod, options.clone());
        progress.finish_and_clear();
        let record = prepared.with_context(|| format!("create pod {name}"))?;
        tracing::debug!(
            "step images, name and pod record: {}",
            since(prepare_started)
        );
        let supervisor_started = Instant::now();
        start_supervisor(root, &record, &supervisor, false)
            .with_context(|| format!("start pod {name}"))?;
        tracing::debug!(
            "step supervisor started the pod: {}",
            since(supervisor_started)
        );
        if args.detach {
            println!("{name}");
        }
        started.push(record);
    }
    if args.detach {
        return Ok(0);
    }
    foreground(root, &started, args.remove)
}

/// The supervisor binary: `PODCTL_SUPERVISOR`, else `podctl-supervisor` beside
/// this binary (both are built and installed together).
fn supervisor_binary() -> anyhow::Result<std::path::PathBuf> {
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

fn since(started: Instant) -> String {
    format!("{:.1} ms", started.elapsed().as_secs_f64() * 1000.0)
}

fn toml_like(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('[') || l.contains(" = "))
}

/// Start the pod's supervisor (`podctl-supervisor`, installed beside podctl)
/// detached in its own session, and wait until it reports the pod started or
/// failed. With `-v` the supervisor logs each step and its time to
/// `supervisor.log`, which is then copied to stderr.
pub fn start_supervisor(
    root: &Path,
    record: &PodRecord,
    exe: &Path,
    recovering: bool,
) -> anyhow::Result<()> {
    let paths = PodPaths::new(root, &record.uid);
    let (read, write) = nix::unistd::pipe().context("create readiness pipe")?;
    let log = std::fs::File::create(paths.supervisor_log()).context("create supervisor.log")?;
    let write_fd = write.as_raw_fd();
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
    // SAFETY: between fork and exec the closure only calls setsid(2) and fcntl(2).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // Keep the readiness pipe open across exec.
            nix::fcntl::fcntl(
                write_fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )
            .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = command.spawn();
    drop(write);
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            podcore::teardown::remove_pod(root, &record.entry());
            return Err(e).context("spawn the pod supervisor");
        }
    };
    let mut answer = String::new();
    std::fs::File::from(read)
        .read_to_string(&mut answer)
        .context("wait for the pod supervisor")?;
    // The supervisor runs on, detached; it is reaped by init once this process exits.
    let _ = child.try_wait();
    if tracing::enabled!(tracing::Level::DEBUG) {
        // The supervisor's own steps, logged at the same level.
        let log = std::fs::read_to_string(paths.supervisor_log()).unwrap_or_default();
        eprint!("{log}");
    }
    let report: Option<control::StartReport> = serde_json::from_str(answer.trim()).ok();
    match report {
        Some(control::StartReport::Started) => Ok(()),
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

fn load(
    root: &Path,
    entry: &pod::PodEntry,
) -> anyhow::Result<(PodRecord, PodPaths, Option<PodStatus>)> {
    let paths = PodPaths::new(root, &entry.uid);
    let record: PodRecord =
        pod::read_json(&paths.record()).with_context(|| format!("read pod {}", entry.name))?;
    let status = status_of(&paths);
    Ok((record, paths, status))
}

/// How long a question to a supervisor may take before its file is read instead.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A pod's status: its supervisor's answer, else (a stopped or gone
/// supervisor) the last status it wrote, Unknown when it is gone.
fn status_of(paths: &PodPaths) -> Option<PodStatus> {
    match control::client::call(paths, &control::Request::Status, Some(ASK_TIMEOUT)) {
        Ok(control::Response::Status { status }) => Some(*status),
        _ => supervisor::observed_status(paths),
    }
}

/// Foreground `run`: stream every container's output prefixed with its name
/// until the pods end; Ctrl-C or SIGTERM deletes them gracefully.
fn foreground(root: &Path, records: &[PodRecord], remove: bool) -> anyhow::Result<i32> {
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_interrupt),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { nix::sys::signal::sigaction(signal, &action) }
            .context("install signal handler")?;
    }
    // One follower per container run's log file, opened as each appears.
    let mut followers: BTreeMap<PathBuf, podcore::logs::Follower> = BTreeMap::new();
    loop {
        let mut out = std::io::stdout().lock();
        for record in records {
            let paths = PodPaths::new(root, &record.uid);
            for container in record.spec.all_containers() {
                let dir = paths.logs(&container.name);
                let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| {
                        let path = e.path();
                        let run = path
                            .file_name()?
                            .to_str()?
                            .strip_suffix(".log")?
                            .parse()
                            .ok()?;
                        Some((run, path))
                    })
                    .collect();
                files.sort();
                for (_, file) in files {
                    let follower = followers.entry(file.clone()).or_insert_with(|| {
                        podcore::logs::Follower::new(&file, podcore::logs::Start::Beginning)
                    });
                    let _ = follower.poll(|_, line| writeln!(out, "[{}] {line}", container.name));
                }
            }
        }
        let _ = out.flush();
        drop(out);
        if INTERRUPTED.load(Ordering::Relaxed) {
            eprintln!("interrupted: deleting the pod(s)");
            let entries = entries_of(records);
            all_deleted(delete_entries(root, &entries, None))?;
            return Ok(130);
        }
        let statuses: Vec<Option<PodStatus>> = records
            .iter()
            .map(|r| status_of(&PodPaths::new(root, &r.uid)))
            .collect();
        let done = statuses.iter().all(|s| {
            s.as_ref()
                .is_none_or(|s| s.phase.is_terminal() || s.phase == Phase::Unknown)
        });
        let supervisors_gone = records
            .iter()
            .all(|r| control::supervisor_pid(&PodPaths::new(root, &r.uid)).is_none());
        if done && supervisors_gone {
            let failed = statuses
                .iter()
                .any(|s| s.as_ref().is_none_or(|s| s.phase != Phase::Succeeded));
            if remove {
                let entries = entries_of(records);
                all_deleted(delete_entries(root, &entries, Some(0)))?;
            }
            return Ok(if failed { 1 } else { 0 });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `podctl get pods`.
pub fn get(root: &Path, name: Option<&str>, namespace: &str, format: &str) -> anyhow::Result<()> {
    let entries: Vec<pod::PodEntry> = match name {
        Some(name) => vec![pod::find(root, namespace, name)?],
        None => pod::list(root)
            .into_iter()
            .filter(|p| p.namespace == namespace)
            .collect(),
    };
    // A pod whose record cannot be read is listed as Unknown with the reason;
    // the others list as usual, and `delete` still removes it.
    let mut pods = Vec::new();
    let mut unreadable = Vec::new();
    for entry in &entries {
        match load(root, entry) {
            Ok(pod) => pods.push(pod),
            Err(error) => unreadable.push((entry.clone(), supervisor::chain(error.as_ref()))),
        }
    }
    match format {
        "json" | "yaml" => {
            let objects: Vec<k8s_openapi::api::core::v1::Pod> = pods
                .iter()
                .map(|(r, _, s)| podcore::kube::pod_object(r, s.as_ref()))
                .chain(unreadable.iter().map(|(e, why)| {
                    podcore::kube::unreadable_pod_object(&e.namespace, &e.name, &e.uid, why)
                }))
                .collect();
            let value = if name.is_some() {
                serde_json::to_value(&objects[0])?
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}})
            };
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", serde_yaml_ng::to_string(&value)?);
            }
        }
        "name" => {
            for (record, _, _) in &pods {
                println!("pod/{}", record.spec.name);
            }
            for (entry, _) in &unreadable {
                println!("pod/{}", entry.name);
            }
        }
        "" | "wide" => {
            for (entry, why) in &unreadable {
                eprintln!("warning: pod {}: {why}", entry.name);
            }
            if pods.is_empty() && unreadable.is_empty() {
                eprintln!("No resources found in {namespace} namespace.");
                return Ok(());
            }
            let now = chrono::Utc::now();
            let rows: Vec<Vec<String>> = pods
                .iter()
                .map(|(record, _, status)| {
                    let (ready, shown, restarts) = match status {
                        Some(s) => {
                            let sidecars = record
                                .spec
                                .init_containers
                                .iter()
                                .filter(|c| c.is_sidecar())
                                .count();
                            let total = s.containers.len() + sidecars;
                            let ready = s.containers.iter().filter(|c| c.ready).count()
                                + s.init_containers
                                    .iter()
                                    .zip(&record.spec.init_containers)
                                    .filter(|(st, sp)| sp.is_sidecar() && st.ready)
                                    .count();
                            let restarts: u32 = s
                                .containers
                                .iter()
                                .chain(&s.init_containers)
                                .map(|c| c.restart_count)
                                .sum();
                            (
                                format!("{ready}/{total}"),
                                podcore::kube::display_status(record, s),
                                restarts.to_string(),
                            )
                        }
                        None => (
                            format!("0/{}", record.spec.containers.len()),
                            "Pending".into(),
                            "0".into(),
                        ),
                    };
                    let mut row = vec![
                        record.spec.name.clone(),
                        ready,
                        shown,
                        restarts,
                        output::age(record.created, now),
                    ];
                    if format == "wide" {
                        row.push(
                            status
                                .as_ref()
                                .and_then(|s| s.pod_ip.clone())
                                .unwrap_or_else(|| "<none>".into()),
                        );
                        row.push(record.uid.clone());
                    }
                    row
                })
                .chain(unreadable.iter().map(|(entry, _)| {
                    let mut row = vec![
                        entry.name.clone(),
                        "0/0".into(),
                        "Unknown".into(),
                        "0".into(),
                        "<unknown>".into(),
                    ];
                    if format == "wide" {
                        row.extend(["<none>".to_string(), entry.uid.clone()]);
                    }
                    row
                }))
                .collect();
            let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
            if format == "wide" {
                header.extend(["IP", "UID"]);
            }
            output::table(&header, &rows)?;
        }
        other => bail!("unknown output format {other:?}: use wide, json, yaml or name"),
    }
    Ok(())
}

/// `podctl delete pod NAME...`: ask every supervisor to stop its pod, then
/// wait for all of them together; "deleted" only once nothing of a pod is left.
pub fn delete(
    root: &Path,
    names: &[String],
    all: bool,
    namespace: &str,
    grace: Option<u64>,
) -> anyhow::Result<()> {
    let entries: Vec<pod::PodEntry> = if all {
        pod::list(root)
            .into_iter()
            .filter(|p| p.namespace == namespace)
            .collect()
    } else {
        names
            .iter()
            .map(|n| pod::find(root, namespace, n))
            .collect::<Result<_, _>>()?
    };
    let failed = delete_entries(root, &entries, grace);
    for entry in &entries {
        if !failed.iter().any(|(f, _)| f.uid == entry.uid) {
            println!("pod \"{}\" deleted", entry.name);
        }
    }
    all_deleted(failed)
}

/// An error naming the first pod of which something is left, if any.
fn all_deleted(failed: Vec<(pod::PodEntry, podcore::teardown::Leftovers)>) -> anyhow::Result<()> {
    if let Some((entry, left)) = failed.first() {
        bail!(
            "pod {:?} is not fully deleted, these remain: {left} (run delete again; {} pod(s) not fully deleted)",
            entry.name,
            failed.len()
        );
    }
    Ok(())
}

/// How long past its grace period a supervisor gets to finish stopping its
/// pod before it is killed and the pod is cleaned up without it.
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// Stop and remove pods; returns those of which something is left.
fn delete_entries(
    root: &Path,
    entries: &[pod::PodEntry],
    grace: Option<u64>,
) -> Vec<(pod::PodEntry, podcore::teardown::Leftovers)> {
    // Ask every live supervisor at once; nothing is written (a full disk
    // must not stop a delete). One that does not answer is killed below.
    let mut waiting = Vec::new();
    for entry in entries {
        let paths = PodPaths::new(root, &entry.uid);
        let record: Option<PodRecord> = pod::read_json(&paths.record()).ok();
        // Without a record the supervisor knows the pod's own grace period.
        let grace_seconds = grace.or(record.map(|r| r.spec.termination_grace_period_seconds));
        if let Some(pid) = control::supervisor_pid(&paths) {
            let stop = control::Request::StopPod {
                grace_seconds: grace,
            };
            let asked = if stopped(pid) {
                Err(control::ClientError::NoAnswer)
            } else {
                control::client::call(&paths, &stop, Some(ASK_TIMEOUT))
            };
            let deadline = match asked {
                Ok(_) => {
                    let waited = grace_seconds.unwrap_or(podcore::spec::DEFAULT_GRACE_SECONDS);
                    Instant::now() + Duration::from_secs(waited) + STOP_MARGIN
                }
                Err(error) => {
                    // Stopped, or not listening: it is killed at once below.
                    tracing::warn!(%error, "the pod's supervisor did not take the stop request");
                    Instant::now()
                }
            };
            waiting.push((entry.name.as_str(), paths, pid, deadline));
        }
    }
    let progress = output::spinner();
    let started = Instant::now();
    while !waiting.is_empty() {
        if started.elapsed() > Duration::from_millis(300) {
            let names: Vec<&str> = waiting.iter().map(|(name, ..)| *name).collect();
            progress.set_message(format!(
                "waiting for {} to stop ({:.0?} so far)",
                names.join(", "),
                started.elapsed()
            ));
            progress.tick();
        }
        waiting.retain(|(_, paths, pid, deadline)| {
            if control::supervisor_pid(paths) != Some(*pid) {
                return false;
            }
            // A stopped supervisor cannot act, and one past its deadline will not.
            if Instant::now() < *deadline && !stopped(*pid) {
                return true;
            }
            tracing::warn!(pid, "the pod's supervisor did not stop the pod: killing it");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            // The kernel drops its lock once it is gone.
            let until = Instant::now() + Duration::from_secs(5);
            while control::supervisor_pid(paths) == Some(*pid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        });
        std::thread::sleep(Duration::from_millis(10));
    }
    progress.finish_and_clear();
    // Whatever the supervisors did or did not do: remove what is left and
    // look, a few pods at a time (most of a pod's cleanup is waiting on the
    // kernel and on CNI plugins; nothing here creates containers).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..CLEANUP_WORKERS.min(entries.len()) {
            scope.spawn(|| {
                while let Some(entry) = entries.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let left = podcore::teardown::remove_pod(root, entry);
                    if !left.is_empty() {
                        failed
                            .lock()
                            .expect("no worker panics")
                            .push((entry.clone(), left));
                    }
                }
            });
        }
    });
    failed.into_inner().expect("no worker panics")
}

/// How many pods are cleaned up at once by `delete`.
const CLEANUP_WORKERS: usize = 8;

/// Whether `pid` is stopped (SIGSTOP) or stopped by a tracer.
fn stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "T" || state == "t")
    })
}

/// `podctl logs` options.
pub struct LogsArgs<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub container: Option<&'a str>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail: Option<usize>,
}

/// `podctl logs`.
pub fn logs(root: &Path, args: LogsArgs) -> anyhow::Result<()> {
    let LogsArgs {
        namespace,
        name,
        container,
        follow,
        previous,
        timestamps,
        tail,
    } = args;
    let entry = pod::find(root, namespace, name)?;
    let (record, paths, status) = load(root, &entry)?;
    let container = pick_container(&record, name, container)?;
    let restarts = container_status(status.as_ref(), &container)
        .map(|c| c.restart_count)
        .unwrap_or(0);
    let index = if previous {
        restarts.checked_sub(1).ok_or_else(|| {
            anyhow::anyhow!(NotFound(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            )))
        })?
    } else {
        restarts
    };
    let file = paths.log_file(&container, index);
    let start = tail.map_or(podcore::logs::Start::Beginning, podcore::logs::Start::Tail);
    let mut follower = podcore::logs::Follower::new(&file, start);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        let printed = follower.poll(|time, line| {
            if timestamps {
                writeln!(
                    out,
                    "{} {line}",
                    time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                )
            } else {
                writeln!(out, "{line}")
            }
        });
        match printed.and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`logs | head`): done.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("read {}", file.display())),
        }
        if !follow || previous {
            return Ok(());
        }
        let status = status_of(&paths);
        let running = status
            .as_ref()
            .and_then(|s| {
                s.init_containers
                    .iter()
                    .chain(&s.containers)
                    .find(|c| c.name == container)
                    .cloned()
            })
            .is_some_and(|c| {
                matches!(c.state, ContainerState::Running { .. }) && c.restart_count == index
            });
        if !running {
            // What was written before it ended, then done.
            follower.poll(|_, line| writeln!(out, "{line}")).ok();
            let _ = out.flush();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A named thing that does not exist: exit code 3.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// The namespace ids of a process, by kind.
fn namespaces(pid: i32) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for kind in ["net", "ipc", "uts", "pid", "mnt", "cgroup", "user"] {
        if let Ok(link) = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")) {
            out.insert(
                kind.into(),
                serde_json::Value::String(link.display().to_string()),
            );
        }
    }
    serde_json::Value::Object(out)
}

/// `podctl inspect NAME`: the runtime's view of a pod as JSON.
pub fn inspect(root: &Path, namespace: &str, name: &str) -> anyhow::Result<()> {
    let entry = pod::find(root, namespace, name)?;
    let (record, paths, status) = load(root, &entry)?;
    let status = status.ok_or_else(|| anyhow::anyhow!("pod {name} has no status yet"))?;
    let pause = status.sandbox.pause_pid;
    let containers: Vec<serde_json::Value> = status
        .init_containers
        .iter()
        .chain(&status.containers)
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "id": c.container_id,
                "pid": c.pid,
                "namespaces": c.pid.map(namespaces),
                "cgroup": format!("/{}", record.cgroup(&c.name)),
                // The overlay is mounted in the supervisor's mount namespace
                // only; the container's root is reached from the host here.
                "rootfs": c.pid.map(|pid| format!("/proc/{pid}/root")),
                "log": paths.log_file(&c.name, c.restart_count),
                "image": c.image,
            })
        })
        .collect();
    let view = serde_json::json!({
        "name": record.spec.name,
        "namespace": record.spec.namespace,
        "uid": record.uid,
        "phase": status.phase.as_str(),
        "folder": paths.dir,
        "supervisor_pid": control::supervisor_pid(&paths),
        "sandbox": {
            "id": status.sandbox.container_id,
            "pause_pid": pause,
            "namespaces": pause.map(namespaces),
            "restarts": status.sandbox.restarts,
        },
        "containers": containers,
    });
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}

fn describe_state(state: &ContainerState) -> Vec<String> {
    match state {
        ContainerState::Waiting { reason, message } => {
            let mut out = vec!["Waiting".to_string(), format!("  Reason:       {reason}")];
            if let Some(m) = message {
                out.push(format!("  Message:      {m}"));
            }
            out
        }
        ContainerState::Running { started_at } => vec![
            "Running".into(),
            format!("  Started:      {}", started_at.to_rfc2822()),
        ],
        ContainerState::Terminated(t) => terminated_lines(t),
    }
}

fn terminated_lines(t: &podcore::status::Terminated) -> Vec<String> {
    let mut out = vec![
        "Terminated".to_string(),
        format!("  Reason:       {}", t.reason),
        format!("  Exit Code:    {}", t.exit_code),
    ];
    if let Some(signal) = t.signal {
        out.push(format!("  Signal:       {signal}"));
    }
    if let Some(m) = &t.message {
        out.push(format!("  Message:      {m}"));
    }
    if let Some(s) = t.started_at {
        out.push(format!("  Started:      {}", s.to_rfc2822()));
    }
    out.push(format!("  Finished:     {}", t.finished_at.to_rfc2822()));
    out
}

/// `podctl describe pod NAME`: the kubectl-style page.
pub fn describe(root: &Path, namespace: &str, name: &str) -> anyhow::Result<()> {
    let entry = pod::find(root, namespace, name)?;
    let (record, _, status) = load(root, &entry)?;
    let spec = &record.spec;
    let now = chrono::Utc::now();
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("Name:             {}", spec.name));
    line(format!("Namespace:        {}", spec.namespace));
    line(format!("UID:              {}", record.uid));
    line(format!("Kind:             {}", spec.source_kind));
    line(format!("Start Time:       {}", record.created.to_rfc2822()));
    let labels: Vec<String> = spec
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    line(format!(
        "Labels:           {}",
        if labels.is_empty() {
            "<none>".into()
        } else {
            labels.join(",")
        }
    ));
    if let Some(s) = &status {
        line(format!(
            "Status:           {}",
            if s.terminating {
                "Terminating"
            } else {
                s.phase.as_str()
            }
        ));
        if let Some(reason) = &s.reason {
            line(format!("Reason:           {reason}"));
        }
        if let Some(message) = &s.message {
            line(format!("Message:          {message}"));
        }
        line(format!(
            "IP:               {}",
            s.pod_ip.clone().unwrap_or_default()
        ));
        line(format!("QoS Class:        {}", s.qos_class));
    }
    let statuses: BTreeMap<String, podcore::status::ContainerStatus> = status
        .as_ref()
        .map(supervisor::container_statuses)
        .unwrap_or_default();
    for (title, list) in [
        ("Init Containers", &spec.init_containers),
        ("Containers", &spec.containers),
    ] {
        if list.is_empty() {
            continue;
        }
        line(format!("{title}:"));
        for c in list {
            line(format!("  {}:", c.name));
            let st = statuses.get(&c.name);
            line(format!(
                "    Container ID:  {}",
                st.map(|s| format!("podctl://{}", s.container_id))
                    .unwrap_or_default()
            ));
            line(format!("    Image:         {}", c.image));
            line(format!(
                "    Image ID:      {}",
                st.map(|s| s.image_id.clone()).unwrap_or_default()
            ));
            if let Some(command) = &c.command {
                line(format!("    Command:       {}", command.join(" ")));
            }
            if let Some(args) = &c.args {
                line(format!("    Args:          {}", args.join(" ")));
            }
            if let Some(s) = st {
                let state = describe_state(&s.state);
                line(format!("    State:         {}", state[0]));
                for extra in &state[1..] {
                    line(format!("    {extra}"));
                }
                if let Some(last) = &s.last_state {
                    let lines = terminated_lines(last);
                    line(format!("    Last State:    {}", lines[0]));
                    for extra in &lines[1..] {
                        line(format!("    {extra}"));
                    }
                }
                line(format!(
                    "    Ready:         {}",
                    if s.ready { "True" } else { "False" }
                ));
                line(format!("    Restart Count: {}", s.restart_count));
            }
            let r = &c.resources;
            if r.cpu_limit.is_some() || r.memory_limit.is_some() {
                line(format!(
                    "    Limits:        cpu={} memory={}",
                    r.cpu_limit.map_or("-".into(), |m| format!("{m}m")),
                    r.memory_limit.map_or("-".into(), |b| b.to_string())
                ));
            }
            if r.cpu_request.is_some() || r.memory_request.is_some() {
                line(format!(
                    "    Requests:      cpu={} memory={}",
                    r.cpu_request.map_or("-".into(), |m| format!("{m}m")),
                    r.memory_request.map_or("-".into(), |b| b.to_string())
                ));
            }
            line("    Mounts:".into());
            if c.volume_mounts.is_empty() {
                line("      <none>".into());
            }
            for m in &c.volume_mounts {
                line(format!(
                    "      {} from {} ({})",
                    m.mount_path,
                    m.name,
                    if m.read_only { "ro" } else { "rw" }
                ));
            }
        }
    }
    if let Some(s) = &status {
        line("Conditions:".into());
        line("  Type              Status".into());
        for c in &s.conditions {
            line(format!(
                "  {:<17} {}",
                c.kind,
                if c.status { "True" } else { "False" }
            ));
        }
    }
    line("Volumes:".into());
    if spec.volumes.is_empty() {
        line("  <none>".into());
    }
    for v in &spec.volumes {
        let kind = match &v.source {
            podcore::spec::VolumeSource::EmptyDir { memory, size_limit } => format!(
                "EmptyDir (a temporary directory that shares a pod's lifetime), Medium: {}, SizeLimit: {}",
                if *memory { "Memory" } else { "" },
                size_limit.map_or("<unset>".into(), |b| b.to_string())
            ),
            podcore::spec::VolumeSource::HostPath { path } => {
                format!("HostPath (bare host directory volume), Path: {path}")
            }
        };
        line(format!("  {}:", v.name));
        line(format!("    Type: {kind}"));
    }
    line("Events:".into());
    match &status {
        Some(s) if !s.events.is_empty() => {
            line(format!(
                "  {:<8} {:<15} {:<6} {}",
                "Type", "Reason", "Age", "Message"
            ));
            for e in &s.events {
                line(format!(
                    "  {:<8} {:<15} {:<6} {}",
                    e.kind,
                    e.reason,
                    output::age(e.time, now),
                    e.message
                ));
            }
        }
        _ => line("  <none>".into()),
    }
    print!("{out}");
    Ok(())
}

/// `podctl ns NAME`: the pod's namespaces as a table, like `lsns`, with
/// which are shared with pause and which are the host's.
pub fn namespaces_table(root: &Path, namespace: &str, name: &str) -> anyhow::Result<()> {
    let entry = pod::find(root, namespace, name)?;
    let (_, _, status) = load(root, &entry)?;
    let status = status.ok_or_else(|| anyhow::anyhow!("pod {name} has no status yet"))?;
    let pause = status.sandbox.pause_pid;
    let host = std::process::id() as i32;
    let link = |pid: i32, kind: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
            .ok()
            .map(|l| l.display().to_string())
    };
    let mut members: Vec<(String, i32)> = pause
        .map(|p| ("pause".to_string(), p))
        .into_iter()
        .collect();
    members.extend(
        status
            .init_containers
            .iter()
            .chain(&status.containers)
            .filter_map(|c| Some((c.name.clone(), c.pid?))),
    );
    let mut rows = Vec::new();
    for (container, pid) in &members {
        for kind in ["net", "ipc", "uts", "pid", "mnt", "cgroup", "user"] {
            let Some(id) = link(*pid, kind) else { continue };
            let number = id
                .split('[')
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(']')
                .to_string();
            let shared = if link(host, kind).as_deref() == Some(id.as_str()) {
                "host"
            } else if container != "pause"
                && pause.and_then(|p| link(p, kind)).as_deref() == Some(id.as_str())
            {
                "pause"
            } else {
                "own"
            };
            rows.push(vec![
                number,
                kind.to_string(),
                pid.to_string(),
                container.clone(),
                shared.to_string(),
            ]);
        }
    }
    output::table(&["NS", "TYPE", "PID", "CONTAINER", "SHARED"], &rows)?;
    Ok(())
}

/// `podctl exec`: run a command in a running container, returning its exit
/// code. The pod's supervisor runs it (only it creates processes in the
/// pod's containers) with this process's own stdin (with `-i`), stdout and
/// stderr, or with a new terminal (`-t`) whose master end comes here.
pub fn exec(
    root: &Path,
    namespace: &str,
    name: &str,
    container: Option<&str>,
    command: Vec<String>,
    stdin: bool,
    tty: bool,
) -> anyhow::Result<u8> {
    let entry = pod::find(root, namespace, name)?;
    let (record, paths, status) = load(root, &entry)?;
    let container = pick_container(&record, name, container)?;
    let running = container_status(status.as_ref(), &container)
        .is_some_and(|c| matches!(c.state, ContainerState::Running { .. }));
    if !running {
        bail!("container {container} of pod {name} is not running: exec needs a running container");
    }
    let what = || format!("exec in {name}/{container}");
    let client = control::Client::connect(&paths).with_context(what)?;
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

/// The container a command is about: the one named (it must exist), else the
/// only one, else the pod's first app container (with a note, as kubectl).
fn pick_container(record: &PodRecord, pod: &str, wanted: Option<&str>) -> anyhow::Result<String> {
    let names: Vec<String> = record
        .spec
        .all_containers()
        .map(|c| c.name.clone())
        .collect();
    match wanted {
        Some(c) if names.iter().any(|n| n == c) => Ok(c.to_string()),
        Some(c) => bail!(NotFound(format!(
            "container {c:?} is not in pod {pod} (containers: {})",
            names.join(", ")
        ))),
        None => {
            let first = record.spec.containers[0].name.clone();
            if names.len() > 1 {
                eprintln!(
                    "Defaulted container \"{first}\" out of: {}",
                    names.join(", ")
                );
            }
            Ok(first)
        }
    }
}

/// `podctl recover NAME`: a new supervisor takes over a pod whose supervisor
/// died. Containers that outlived it cannot be waited for by anyone else,
/// so they are stopped and started again in a new sandbox; restart counts,
/// logs and volumes are kept.
pub fn recover(root: &Path, namespace: &str, name: &str) -> anyhow::Result<()> {
    let entry = pod::find(root, namespace, name)?;
    let (record, paths, status) = load(root, &entry)?;
    if control::supervisor_pid(&paths).is_some() {
        println!("pod \"{name}\" has a running supervisor: nothing to recover");
        return Ok(());
    }
    if status.as_ref().is_some_and(|s| s.phase.is_terminal()) {
        println!("pod \"{name}\" has ended: nothing to recover");
        return Ok(());
    }
    let supervisor = supervisor_binary()?;
    let left = podcore::teardown::stop_pod(root, &record.entry());
    if !left.is_empty() {
        bail!("pod {name}: what its last supervisor left cannot be removed: {left}");
    }
    // The pod keeps its network (and IP) when CNI CHECK says it is whole.
    if podcore::network::ensure(root, &record).with_context(|| format!("recover pod {name}"))? {
        eprintln!("pod \"{name}\": its network failed its check and was made anew");
    }
    start_supervisor(root, &record, &supervisor, true)
        .with_context(|| format!("recover pod {name}"))?;
    println!("pod \"{name}\" recovered");
    Ok(())
}

/// The status of one container of a pod, init containers included.
fn container_status(
    status: Option<&PodStatus>,
    name: &str,
) -> Option<podcore::status::ContainerStatus> {
    status?
        .init_containers
        .iter()
        .chain(&status?.containers)
        .find(|c| c.name == name)
        .cloned()
}

/// The pod entries of records, to delete them.
fn entries_of(records: &[PodRecord]) -> Vec<pod::PodEntry> {
    records
        .iter()
        .map(|r| pod::PodEntry {
            namespace: r.spec.namespace.clone(),
            name: r.spec.name.clone(),
            uid: r.uid.clone(),
        })
        .collect()
}
