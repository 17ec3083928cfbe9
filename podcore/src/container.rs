//! OCI runtime specs for the pause container and app containers, and their
//! life through libcontainer (create, start, signal, delete).
//!
//! App containers join the pause container's net, ipc and uts namespaces
//! (and pid when shared) by `/proc/<pause pid>/ns/*`; each has its own mount
//! namespace. Cgroup and user namespaces stay the host's.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::Container as Runtime;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::cgroups;
use crate::executor::PodExecutor;
use crate::pod::{PodPaths, PodRecord, ResolvedImage};
use crate::spec::{Container, VolumeSource};

/// Errors making or driving a container.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container {container}: {message}")]
    Spec { container: String, message: String },
    #[error("container {container}: {step}: {source}")]
    Runtime {
        container: String,
        step: &'static str,
        #[source]
        source: Box<libcontainer::error::LibcontainerError>,
    },
    #[error("container {container}: {context} {path}: {source}")]
    Io {
        container: String,
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Docker's and containerd's default capabilities.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability, for privileged containers.
const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
];

/// The environment variable holding the image's default `PATH` when it has none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn spec_error(container: &str, message: impl Into<String>) -> ContainerError {
    ContainerError::Spec {
        container: container.to_string(),
        message: message.into(),
    }
}

/// The process arguments the Kubernetes way: `command` replaces the
/// Entrypoint, `args` replaces the Cmd (and `command` alone drops the Cmd).
pub fn process_args(container: &Container, image: &ResolvedImage) -> Vec<String> {
    match (&container.command, &container.args) {
        (Some(command), args) => command
            .iter()
            .chain(args.iter().flatten())
            .cloned()
            .collect(),
        (None, Some(args)) => image.entrypoint.iter().chain(args).cloned().collect(),
        (None, None) => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
    }
}

/// The image's env with the container's on top (same name replaced), plus HOSTNAME.
pub fn process_env(container: &Container, image: &ResolvedImage, hostname: &str) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match env.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    };
    if !image.env.iter().any(|e| e.starts_with("PATH=")) {
        set("PATH", &DEFAULT_PATH[5..]);
    }
    for entry in &image.env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        set(name, value);
    }
    set("HOSTNAME", hostname);
    for (name, value) in &container.env {
        set(name, value);
    }
    env.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

/// Resolve the user: runAsUser/runAsGroup, else the image's `User` (numeric,
/// or a name looked up in the root filesystem's /etc/passwd).
fn process_user(
    container: &Container,
    image: &ResolvedImage,
    rootfs: &Path,
) -> Result<(u32, u32), ContainerError> {
    let (image_user, image_group) = image.user.split_once(':').unwrap_or((&image.user, ""));
    let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(rootfs.join(file)).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                Some((
                    f.get(2)?.parse().ok()?,
                    f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                ))
            })?
        })
    };
    let (mut uid, mut gid) = (0, 0);
    if !image_user.is_empty() {
        (uid, gid) = match image_user.parse::<u32>() {
            Ok(n) => (n, lookup("etc/passwd", image_user).map_or(0, |(_, g)| g)),
            Err(_) => lookup("etc/passwd", image_user).ok_or_else(|| {
                spec_error(
                    &container.name,
                    format!("image user {image_user:?} is not in the image's /etc/passwd"),
                )
            })?,
        };
    }
    if !image_group.is_empty() {
        gid = image_group
            .parse()
            .ok()
            .or_else(|| lookup("etc/group", image_group).map(|(g, _)| g))
            .ok_or_else(|| {
                spec_error(
                    &container.name,
                    format!("image group {image_group:?} is not in the image's /etc/group"),
                )
            })?;
    }
    if let Some(u) = container.security.run_as_user {
        uid = u;
    }
    if let Some(g) = container.security.run_as_group {
        gid = g;
    }
    if container.security.run_as_non_root && uid == 0 {
        return Err(spec_error(
            &container.name,
            "runAsNonRoot is set but the container would run as root (uid 0): set runAsUser",
        ));
    }
    Ok((uid, gid))
}

fn capabilities(container: &Container) -> Vec<String> {
    let normal = |c: &String| {
        let c = c.to_ascii_uppercase();
        if c.starts_with("CAP_") {
            c
        } else {
            format!("CAP_{c}")
        }
    };
    if container.security.privileged {
        return ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    }
    let add: Vec<String> = container
        .security
        .capabilities_add
        .iter()
        .map(normal)
        .collect();
    let drop: Vec<String> = container
        .security
        .capabilities_drop
        .iter()
        .map(normal)
        .collect();
    // As containerd: start from the defaults (or every capability for an
    // added ALL), drop what is dropped (everything for ALL), then add.
    let mut caps: Vec<String> = if add.iter().any(|c| c == "CAP_ALL") {
        ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if drop.iter().any(|c| c == "CAP_ALL") {
        caps.clear();
    }
    caps.retain(|c| !drop.contains(c));
    caps.extend(add.into_iter().filter(|c| c != "CAP_ALL"));
    caps.sort();
    caps.dedup();
    caps
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if read_only {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

fn resources(limits: &cgroups::Limits) -> Value {
    let mut cpu = json!({"shares": limits.cpu_shares});
    if let Some(quota) = limits.cpu_quota {
        cpu["quota"] = json!(quota);
        cpu["period"] = json!(cgroups::CFS_PERIOD_US);
    }
    let mut value = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "cpu": cpu,
        "pids": {"limit": limits.pids_limit},
    });
    if let Some(memory) = limits.memory_limit {
        value["memory"] = json!({"limit": memory, "swap": memory});
    }
    value
}

/// Whether this process holds CAP_SYS_RESOURCE, which lowering an
/// `oom_score_adj` below 0 needs.
pub fn has_cap_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("CapEff:")
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
        })
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

/// `score` when this host lets us set it; a negative score needs
/// CAP_SYS_RESOURCE, without which the kernel refuses it (the score is then left alone).
pub fn permitted_oom_score_adj(score: i32) -> Option<i32> {
    (score >= 0 || has_cap_sys_resource()).then_some(score)
}

/// Give the container its own cgroups read-only instead of libcontainer's
/// cgroupfs mount, which on v1 binds every hierarchy read-write whatever
/// the spec says (a container could raise its own limits, or make cgroups
/// in the host's named hierarchies). As Docker and containerd: a private
/// cgroup namespace where the kernel has them, and read-only files.
fn read_only_cgroups(spec: &mut Value, mounts: &mut Vec<Value>, cgroup: &str) {
    mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
    let host_mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let view = cgroups::container_view(&host_mounts, cgroup);
    let v2 = view
        .first()
        .is_some_and(|(_, dest)| dest == Path::new("/sys/fs/cgroup"));
    if !v2 {
        mounts.push(json!({
            "destination": "/sys/fs/cgroup", "type": "tmpfs", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "mode=755", "size=64k"],
        }));
    }
    let links = cgroups::comount_links();
    for (source, destination) in &view {
        let options = ["bind", "ro", "nosuid", "noexec", "nodev"];
        mounts.push(json!({"destination": destination, "type": "bind", "source": source, "options": options}));
        let name = destination
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        for (link, _) in links.iter().filter(|(_, target)| target == name) {
            let again = Path::new("/sys/fs/cgroup").join(link);
            mounts.push(
                json!({"destination": again, "type": "bind", "source": source, "options": options}),
            );
        }
    }
    if !v2 {
        // The tmpfs holding the mount points, read-only once they are made.
        if let Some(paths) = spec["linux"]["readonlyPaths"].as_array_mut() {
            paths.push(json!("/sys/fs/cgroup"));
        } else {
            spec["linux"]["readonlyPaths"] = json!(["/sys/fs/cgroup"]);
        }
    }
    if Path::new("/proc/self/ns/cgroup").exists()
        && let Some(namespaces) = spec["linux"]["namespaces"].as_array_mut()
    {
        namespaces.push(json!({"type": "cgroup"}));
    }
}

/// Start from oci-spec's defaults (mounts, masked and read-only paths) as JSON.
fn base() -> Value {
    serde_json::to_value(Spec::default()).expect("the default spec serializes")
}

fn finish(name: &str, value: Value) -> Result<Spec, ContainerError> {
    serde_json::from_value(value)
        .map_err(|e| spec_error(name, format!("invalid runtime spec: {e}")))
}

/// The pause container's spec: new net/ipc/uts (and pid when shared)
/// namespaces unless the pod uses the host's, read-only root, shares 2,
/// `oom_score_adj` -998.
pub fn pause_spec(
    record: &PodRecord,
    paths: &PodPaths,
    rootfs: &Path,
) -> Result<Spec, ContainerError> {
    let pod = &record.spec;
    let mut spec = base();
    spec.as_object_mut()
        .expect("spec is an object")
        .remove("hostname");
    let mut namespaces = vec![json!({"type": "mount"})];
    if !pod.host_network {
        // The pod's pinned namespace (see `network`), else a fresh one.
        namespaces.push(
            match crate::network::pinned_netns(&paths.root, &paths.uid) {
                Some(pinned) => json!({"type": "network", "path": pinned}),
                None => json!({"type": "network"}),
            },
        );
        namespaces.push(json!({"type": "uts"}));
        spec["hostname"] = json!(pod.hostname);
    }
    if !pod.host_ipc {
        namespaces.push(json!({"type": "ipc"}));
    }
    if pod.share_process_namespace && !pod.host_pid {
        namespaces.push(json!({"type": "pid"}));
    }
    if !pod.share_process_namespace {
        // pause needs no PID namespace of its own, but must not see the host's processes either.
        if !pod.host_pid {
            namespaces.push(json!({"type": "pid"}));
        }
    }
    spec["linux"]["namespaces"] = json!(namespaces);
    // pause reads no cgroup file: it gets no cgroupfs at all.
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
    }
    spec["linux"]["cgroupsPath"] = json!(format!("/{}", record.sandbox_cgroup()));
    let limits = cgroups::Limits {
        cpu_shares: cgroups::MIN_SHARES,
        cpu_quota: None,
        memory_limit: None,
        pids_limit: 16,
    };
    spec["linux"]["resources"] = resources(&limits);
    spec["linux"]["seccomp"] = crate::seccomp::profile(&[]);
    spec["root"] = json!({"path": rootfs, "readonly": true});
    spec["process"]["args"] = json!(["/pause"]);
    spec["process"]["env"] = json!([DEFAULT_PATH]);
    spec["process"]["cwd"] = json!("/");
    spec["process"]["user"] = json!({"uid": 65535, "gid": 65535});
    spec["process"]["noNewPrivileges"] = json!(true);
    if let Some(score) = permitted_oom_score_adj(-998) {
        spec["process"]["oomScoreAdj"] = json!(score);
    }
    spec["process"]["capabilities"] = json!({});
    spec["process"]["terminal"] = json!(false);
    finish("pause", spec)
}

/// An app (or init, or sidecar) container's spec, joining `pause_pid`'s namespaces.
pub fn app_spec(
    record: &PodRecord,
    paths: &PodPaths,
    container: &Container,
    pause_pid: i32,
    rootfs: &Path,
) -> Result<Spec, ContainerError> {
    let pod = &record.spec;
    let image = record
        .images
        .get(&container.name)
        .ok_or_else(|| spec_error(&container.name, "no resolved image"))?;
    let name = container.name.as_str();
    if container.security.privileged && !record.options.allow_privileged {
        return Err(spec_error(
            name,
            "privileged containers are refused: run with --allow-privileged to allow them (they get the host's devices and every capability)",
        ));
    }
    let mut spec = base();
    let ns = |kind: &str| json!({"type": kind, "path": format!("/proc/{pause_pid}/ns/{}", match kind { "network" => "net", other => other })});
    let mut namespaces = vec![json!({"type": "mount"})];
    if !pod.host_network {
        namespaces.push(ns("network"));
        namespaces.push(ns("uts"));
    }
    if !pod.host_ipc {
        namespaces.push(ns("ipc"));
    }
    if pod.share_process_namespace && !pod.host_pid {
        namespaces.push(ns("pid"));
    } else if !pod.host_pid {
        namespaces.push(json!({"type": "pid"}));
    }
    spec["linux"]["namespaces"] = json!(namespaces);
    spec.as_object_mut()
        .expect("spec is an object")
        .remove("hostname");

    let (uid, gid) = process_user(container, image, rootfs)?;
    let caps = capabilities(container);
    spec["process"]["args"] = json!(process_args(container, image));
    if process_args(container, image).is_empty() {
        return Err(spec_error(
            name,
            "nothing to run: the image has no Entrypoint or Cmd and the container no command",
        ));
    }
    spec["process"]["env"] = json!(process_env(container, image, &pod.hostname));
    let cwd = container.working_dir.clone().unwrap_or_else(|| {
        if image.working_dir.is_empty() {
            "/".into()
        } else {
            image.working_dir.clone()
        }
    });
    spec["process"]["cwd"] = json!(cwd);
    spec["process"]["user"] = json!({"uid": uid, "gid": gid});
    spec["process"]["terminal"] = json!(false);
    spec["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    // Leave the key out rather than `false`: libcontainer 0.7 loads seccomp only
    // after dropping capabilities whenever the key is present, which fails
    // without no_new_privs.
    let process = spec["process"]
        .as_object_mut()
        .expect("process is an object");
    if container.security.allow_privilege_escalation == Some(false) {
        process.insert("noNewPrivileges".into(), json!(true));
    } else {
        process.remove("noNewPrivileges");
    }
    let memory_capacity = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(1 << 30, |kb| kb * 1024);
    // A score below 0 needs CAP_SYS_RESOURCE: without it the score is left as it is.
    let score = cgroups::oom_score_adj(
        record.qos(),
        container.resources.memory_request,
        memory_capacity,
    );
    if let Some(score) = permitted_oom_score_adj(score) {
        spec["process"]["oomScoreAdj"] = json!(score);
    }
    spec["root"] =
        json!({"path": rootfs, "readonly": container.security.read_only_root_filesystem});
    let cgroup = format!("/{}", record.cgroup(name));
    spec["linux"]["cgroupsPath"] = json!(cgroup);
    spec["linux"]["resources"] = resources(&cgroups::limits(&container.resources));
    if container.security.privileged {
        spec["linux"]["maskedPaths"] = json!([]);
        spec["linux"]["readonlyPaths"] = json!([]);
    } else {
        spec["linux"]["seccomp"] = crate::seccomp::profile(&caps);
    }

    // Mounts: the defaults without their private /dev/shm, then the pod's files and volumes.
    let mut mounts: Vec<Value> = spec["mounts"].as_array().cloned().unwrap_or_default();
    mounts.retain(|m| m["destination"] != "/dev/shm");
    if !container.security.privileged {
        read_only_cgroups(&mut spec, &mut mounts, &cgroup);
    }
    let etc = paths.etc();
    mounts.push(bind("/etc/hosts", &etc.join("hosts"), false));
    mounts.push(bind("/etc/hostname", &etc.join("hostname"), false));
    mounts.push(bind("/etc/resolv.conf", &etc.join("resolv.conf"), false));
    let shm = if pod.host_ipc {
        PathBuf::from("/dev/shm")
    } else {
        paths.shm()
    };
    mounts.push(bind("/dev/shm", &shm, false));
    for mount in &container.volume_mounts {
        let volume = pod
            .volumes
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| spec_error(name, format!("volume {} is not declared", mount.name)))?;
        let mut source = match &volume.source {
            VolumeSource::EmptyDir { .. } => paths.volume(&volume.name),
            VolumeSource::HostPath { path } => {
                if !record.options.allow_host_paths {
                    return Err(spec_error(
                        name,
                        format!(
                            "hostPath volume {} is refused: it hands the host to the pod; run with --allow-host-paths to allow it",
                            volume.name
                        ),
                    ));
                }
                PathBuf::from(path)
            }
        };
        if let Some(sub) = &mount.sub_path {
            source = source.join(sub);
            if !source.exists() {
                std::fs::create_dir_all(&source).map_err(|e| ContainerError::Io {
                    container: name.into(),
                    context: "create subPath",
                    path: source.clone(),
                    source: e,
                })?;
            }
        }
        mounts.push(bind(&mount.mount_path, &source, mount.read_only));
    }
    spec["mounts"] = json!(mounts);
    finish(name, spec)
}

/// Write the bundle (`config.json`) and create the container through
/// libcontainer (its init waits for [`start`]). Must run in a single-threaded
/// process, which becomes the container's parent.
pub fn create(
    id: &str,
    bundle: &Path,
    spec: &Spec,
    state_root: &Path,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> Result<Runtime, ContainerError> {
    let name = id.to_string();
    std::fs::create_dir_all(bundle).map_err(|e| ContainerError::Io {
        container: name.clone(),
        context: "create",
        path: bundle.to_path_buf(),
        source: e,
    })?;
    let config = bundle.join("config.json");
    spec.save(&config)
        .map_err(|e| spec_error(&name, format!("write {}: {e}", config.display())))?;
    std::fs::create_dir_all(state_root).map_err(|e| ContainerError::Io {
        container: name.clone(),
        context: "create",
        path: state_root.to_path_buf(),
        source: e,
    })?;
    let stale = state_root.join(id);
    if stale.exists() {
        if let Ok(mut old) = Runtime::load(stale.clone()) {
            let _ = old.delete(true);
        }
        let _ = std::fs::remove_dir_all(&stale);
    }
    let stdin = std::fs::File::open("/dev/null").map_err(|e| ContainerError::Io {
        container: name.clone(),
        context: "open",
        path: "/dev/null".into(),
        source: e,
    })?;
    let runtime_error = |step| runtime_error(&name, step);
    ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(PodExecutor::default())
        .with_root_path(state_root)
        .map_err(runtime_error("set state folder"))?
        .with_stdin(stdin)
        .with_stdout(stdout)
        .with_stderr(stderr)
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
    let io_error = |context, path: &Path| {
        let (name, path) = (name.clone(), path.to_path_buf());
        move |source| ContainerError::Io {
            container: name,
            context,
            path,
            source,
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Resources, SecurityContext};

    fn container(command: Option<&[&str]>, args: Option<&[&str]>) -> Container {
        Container {
            name: "c".into(),
            image: "busybox".into(),
            image_pull_policy: "IfNotPresent".into(),
            command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
            args: args.map(|c| c.iter().map(|s| s.to_string()).collect()),
            env: vec![("PATH".into(), "/mine".into()), ("A".into(), "1".into())],
            working_dir: None,
            volume_mounts: vec![],
            resources: Resources::default(),
            security: SecurityContext::default(),
            restart_policy: None,
            pre_stop: None,
            liveness_probe: None,
            readiness_probe: None,
            startup_probe: None,
            ports: vec![],
        }
    }

    fn image() -> ResolvedImage {
        ResolvedImage {
            reference: "busybox:latest".into(),
            digest: "sha256:x".into(),
            layers: vec![],
            entrypoint: vec!["/entry".into()],
            cmd: vec!["default".into()],
            env: vec!["PATH=/image".into(), "B=2".into()],
            working_dir: "/".into(),
            user: String::new(),
            stop_signal: None,
        }
    }

    #[test]
    fn command_and_args_merge_the_kubernetes_way() {
        assert_eq!(
            process_args(&container(None, None), &image()),
            ["/entry", "default"]
        );
        assert_eq!(
            process_args(&container(None, Some(&["x"])), &image()),
            ["/entry", "x"]
        );
        assert_eq!(
            process_args(&container(Some(&["sh"]), None), &image()),
            ["sh"]
        );
        assert_eq!(
            process_args(&container(Some(&["sh"]), Some(&["-c", "y"])), &image()),
            ["sh", "-c", "y"]
        );
    }

    #[test]
    fn env_layers_the_container_over_the_image() {
        let env = process_env(&container(None, None), &image(), "pod");
        assert_eq!(env, ["PATH=/mine", "B=2", "HOSTNAME=pod", "A=1"]);
    }

    #[test]
    fn capabilities_drop_then_add() {
        let mut c = container(None, None);
        assert_eq!(capabilities(&c).len(), DEFAULT_CAPABILITIES.len());
        c.security.capabilities_drop = vec!["ALL".into()];
        c.security.capabilities_add = vec!["NET_ADMIN".into()];
        assert_eq!(capabilities(&c), ["CAP_NET_ADMIN"]);
        c.security.capabilities_drop = vec!["CAP_KILL".into()];
        c.security.capabilities_add = vec![];
        assert!(!capabilities(&c).contains(&"CAP_KILL".to_string()));
        assert_eq!(capabilities(&c).len(), DEFAULT_CAPABILITIES.len() - 1);
    }
}
