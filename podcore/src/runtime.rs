//! Turning a parsed pod into a pod on disk, ready for its supervisor:
//! images resolved and unpacked, the name claimed, the record written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::image::{Image, Store};
use crate::pod::{
    PodEntry, PodPaths, PodRecord, ResolvedImage, RunOptions, claim_name, release_name, write_json,
};
use crate::spec::PodSpec;

/// Why a pod could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{path}: {source}")]
    Image {
        path: String,
        #[source]
        source: crate::image::Error,
    },
    #[error("{0}")]
    Pod(#[from] crate::pod::PodError),
    #[error("pod network: {0}")]
    Network(#[from] crate::network::NetworkError),
    #[error(
        "{field}: {port} is already published by pod {holder}: pick another hostPort or delete that pod"
    )]
    PortTaken {
        field: String,
        port: String,
        holder: String,
    },
    /// The pod asks for something that hands it the host, not allowed by the run's options.
    #[error("{field}: {what} is refused: {why}; run with {flag} to allow it")]
    Refused {
        field: String,
        what: &'static str,
        why: &'static str,
        flag: &'static str,
    },
}

/// Refuse what hands the host to the pod unless the run allows it: host
/// namespaces, privileged containers, hostPath volumes. Checked before
/// anything of the pod is made.
pub fn check_permitted(pod: &PodSpec, options: &RunOptions) -> Result<(), PrepareError> {
    let refuse = |field: String, what, why, flag| PrepareError::Refused {
        field,
        what,
        why,
        flag,
    };
    if !options.allow_host_namespaces {
        let why = "the pod would see and reach the host's";
        for (set, field, what) in [
            (
                pod.host_network,
                "hostNetwork",
                "the host's network namespace",
            ),
            (pod.host_pid, "hostPID", "the host's PID namespace"),
            (pod.host_ipc, "hostIPC", "the host's IPC namespace"),
        ] {
            if set {
                return Err(refuse(
                    format!("spec.{field}"),
                    what,
                    why,
                    "--allow-host-namespaces",
                ));
            }
        }
    }
    if !options.allow_privileged {
        for (field, list) in [
            ("initContainers", &pod.init_containers),
            ("containers", &pod.containers),
        ] {
            if let Some(i) = list.iter().position(|c| c.security.privileged) {
                return Err(refuse(
                    format!("spec.{field}[{i}].securityContext.privileged"),
                    "a privileged container",
                    "it gets the host's devices and every capability",
                    "--allow-privileged",
                ));
            }
        }
    }
    if !options.allow_host_paths
        && let Some(i) = pod
            .volumes
            .iter()
            .position(|v| matches!(v.source, crate::spec::VolumeSource::HostPath { .. }))
    {
        return Err(refuse(
            format!("spec.volumes[{i}].hostPath"),
            "a hostPath volume",
            "it hands the host's files to the pod",
            "--allow-host-paths",
        ));
    }
    Ok(())
}

fn resolved(store: &Store, image: &Image) -> Result<ResolvedImage, crate::image::Error> {
    let layers = store.layer_dirs(image)?;
    let config = image.config.config().clone().unwrap_or_default();
    Ok(ResolvedImage {
        reference: image.reference.to_string(),
        digest: image.digest.clone(),
        layers,
        entrypoint: config.entrypoint().clone().unwrap_or_default(),
        cmd: config.cmd().clone().unwrap_or_default(),
        env: config.env().clone().unwrap_or_default(),
        working_dir: config.working_dir().clone().unwrap_or_default(),
        user: config.user().clone().unwrap_or_default(),
        stop_signal: config.stop_signal().clone(),
    })
}

/// Resolve every container's image (unpacking layers on first use), claim
/// the pod's name and write its record. Nothing is left behind on failure.
pub fn prepare(
    root: &Path,
    store: &Store,
    pod: PodSpec,
    options: RunOptions,
) -> Result<PodRecord, PrepareError> {
    check_permitted(&pod, &options)?;
    let mut images = BTreeMap::new();
    let lists = [
        ("initContainers", &pod.init_containers),
        ("containers", &pod.containers),
    ];
    for (field, list) in lists {
        for (i, container) in list.iter().enumerate() {
            let path = format!("spec.{field}[{i}].image");
            let image = store
                .resolve(&container.image)
                .map_err(|source| PrepareError::Image {
                    path: path.clone(),
                    source,
                })?;
            let image =
                resolved(store, &image).map_err(|source| PrepareError::Image { path, source })?;
            images.insert(container.name.clone(), image);
        }
    }
    let pause_image = store
        .resolve(&crate::image::pause_reference().to_string())
        .map_err(|source| PrepareError::Image {
            path: "pause image".into(),
            source,
        })?;
    let pause = resolved(store, &pause_image).map_err(|source| PrepareError::Image {
        path: "pause image".into(),
        source,
    })?;

    let uid = uuid::Uuid::new_v4().to_string();
    let record = PodRecord {
        uid: uid.clone(),
        created: Utc::now(),
        spec: pod,
        images,
        pause,
        options,
    };
    // hostPorts are checked and claimed (the record written) under one lock,
    // so two runs cannot both take a port.
    let _ports = port_lock(root)?;
    if let Some((field, port, holder)) = crate::network::host_port_clash(root, &record) {
        return Err(PrepareError::PortTaken {
            field,
            port,
            holder,
        });
    }
    claim_name(root, &record.spec.namespace, &record.spec.name, &uid)?;
    let paths = PodPaths::new(root, &uid);
    let undo = || {
        let _ = std::fs::remove_dir_all(&paths.dir);
        release_name(root, &record.spec.namespace, &record.spec.name, &uid);
    };
    let written = std::fs::create_dir_all(&paths.dir)
        .map_err(crate::pod::io("create", &paths.dir))
        .and_then(|()| write_json(&paths.record(), &record));
    if let Err(error) = written {
        undo();
        return Err(error.into());
    }
    if !record.spec.host_network {
        let started = std::time::Instant::now();
        let made = crate::network::setup(root, &record, &record.options.cni);
        tracing::debug!(
            "step pod network (namespace pinned, CNI ADD): {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        if let Err(error) = made {
            undo();
            return Err(error.into());
        }
    }
    Ok(record)
}

/// The root's hostPort lock (an exclusive `flock` held while dropped).
fn port_lock(root: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, PrepareError> {
    std::fs::create_dir_all(root).map_err(crate::pod::io("create", root))?;
    let path = root.join("ports.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(crate::pod::io("open", &path))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| crate::pod::io("lock", &path)(e.into()).into())
}

/// What is left of a pod after it was cleaned up: nothing, when it worked.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Processes still in the pod's cgroups.
    pub processes: Vec<i32>,
    /// The pod's cgroup folders still there.
    pub cgroups: Vec<PathBuf>,
    /// Mount points below the pod's folder in this mount namespace.
    pub mounts: Vec<PathBuf>,
    /// The pod's folder, still there.
    pub folder: Option<PathBuf>,
    /// Why the pod's network could not be torn down (its folder is then
    /// kept, so that `delete` can be run again once the cause is fixed).
    pub network: Option<String>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.cgroups.is_empty()
            && self.mounts.is_empty()
            && self.folder.is_none()
            && self.network.is_none()
    }
}

impl std::fmt::Display for Leftovers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.processes.is_empty() {
            parts.push(format!("processes {:?}", self.processes));
        }
        let paths = |list: &[PathBuf]| {
            list.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.cgroups.is_empty() {
            parts.push(format!("cgroups {}", paths(&self.cgroups)));
        }
        if !self.mounts.is_empty() {
            parts.push(format!("mounts {}", paths(&self.mounts)));
        }
        if let Some(folder) = &self.folder {
            parts.push(format!("folder {}", folder.display()));
        }
        if let Some(network) = &self.network {
            parts.push(format!("network ({network})"));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Remove what is left of a pod whose supervisor is gone: its containers
/// (killing every process in its cgroups), mounts, cgroups, folder and name.
/// Needs only the pod's uid and name, not its record, which may be unreadable.
pub fn force_cleanup(root: &Path, pod: &PodEntry) -> Leftovers {
    stop_everything(root, pod, false)
}

/// Kill a pod's containers and undo its mounts and cgroups; the folder (record,
/// status, logs, volumes) and the name are kept when `keep_folder`, so that a
/// new supervisor can take the pod over (`podctl recover`). Returns what
/// could not be removed.
pub fn stop_everything(root: &Path, pod: &PodEntry, keep_folder: bool) -> Leftovers {
    let paths = PodPaths::new(root, &pod.uid);
    let state_root = PodPaths::run_dir(root);
    // Processes first: libcontainer removes a container's cgroup only once it is empty.
    kill_pod_processes(&pod.uid);
    // Every container of the pod, the sandbox included: `<uid>-<name>`.
    let prefix = format!("{}-", pod.uid);
    for entry in std::fs::read_dir(&state_root)
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = entry.file_name().to_string_lossy().into_owned();
        if id.starts_with(&prefix) {
            crate::container::destroy(&state_root, &id);
        }
    }
    // The network outlives the containers for a recovered pod (same IP);
    // a deleted pod's goes, and its folder stays while that fails.
    let network = if keep_folder {
        None
    } else {
        crate::network::teardown(root, &pod.uid)
            .err()
            .map(|e| e.to_string())
    };
    crate::sandbox::teardown(
        &paths,
        &pod.namespace,
        &pod.name,
        keep_folder || network.is_some(),
    );
    Leftovers {
        processes: crate::cgroups::pod_processes(&pod.uid),
        cgroups: crate::cgroups::pod_dirs(&pod.uid),
        mounts: crate::sandbox::mounts_below(&paths.dir),
        folder: (!keep_folder && network.is_none() && paths.dir.exists())
            .then(|| paths.dir.clone()),
        network,
    }
}

/// SIGKILL every process in the pod's cgroups until none is left (at most
/// a few seconds): what libcontainer's delete missed, or could not do
/// (a full disk fails its state writes).
fn kill_pod_processes(uid: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    crate::cgroups::thaw_pod(uid);
    loop {
        let pids = crate::cgroups::pod_processes(uid);
        if pids.is_empty() || std::time::Instant::now() >= deadline {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Reap what is ours (a pod this process supervised).
        while let Ok(status) = nix::sys::wait::waitpid(
            None::<nix::unistd::Pid>,
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        ) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
