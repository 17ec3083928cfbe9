//! Taking a pod apart: one path for every end of a pod (its supervisor's
//! end, `podctl delete`, `podctl recover`, a failed start), and the list of
//! what could not be removed.

use std::path::{Path, PathBuf};

use crate::pod::{PodEntry, PodPaths};

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

/// Remove a pod whose supervisor is gone or done: its containers (killing
/// every process in its cgroups), mounts, cgroups, network, folder and
/// name. Needs only the pod's uid and name, not its record, which may be
/// unreadable.
pub fn remove_pod(root: &Path, pod: &PodEntry) -> Leftovers {
    teardown(root, pod, false)
}

/// Kill a pod's containers and undo its mounts and cgroups, keeping its
/// folder (record, status, logs, volumes), name and network: what a
/// supervisor does when its pod ends, and what `podctl recover` does
/// before a new supervisor takes the pod over.
pub fn stop_pod(root: &Path, pod: &PodEntry) -> Leftovers {
    teardown(root, pod, true)
}

/// The one teardown path, for [`remove_pod`] and [`stop_pod`].
fn teardown(root: &Path, pod: &PodEntry, keep_folder: bool) -> Leftovers {
    let paths = PodPaths::new(root, &pod.uid);
    // Processes first: libcontainer removes a container's cgroup only once
    // it is empty, and the pod's IP is given back only once nothing uses it.
    kill_pod_processes(&pod.uid);
    // The network outlives the containers for a recovered pod (same IP); a
    // deleted pod's goes (CNI DEL, pins), beside the rest of the teardown,
    // and its folder stays while that fails. (Only podctl removes pods: the
    // supervisor, which must not run threads, keeps the folder.)
    let (network, mounts) = std::thread::scope(|scope| {
        let network = (!keep_folder).then(|| {
            scope.spawn(|| {
                let started = std::time::Instant::now();
                let result = crate::network::teardown(root, &pod.uid);
                crate::namespaces::unpin_all(root, &pod.uid);
                tracing::debug!(
                    "step network (CNI DEL) and pins removed: {:.1} ms",
                    started.elapsed().as_secs_f64() * 1000.0
                );
                result.err().map(|e| e.to_string())
            })
        });
        remove_containers(root, &paths);
        let _ = std::fs::remove_dir_all(paths.pins());
        let mounts = crate::sandbox::teardown(&paths, &pod.namespace, &pod.name, true);
        if !keep_folder {
            // All but what a second `delete` needs should the network's fail.
            remove_contents_but(&paths.dir, &[&paths.record(), &paths.network()]);
        }
        let network = network.and_then(|n| {
            n.join()
                .unwrap_or_else(|_| Some("the network teardown panicked".into()))
        });
        (network, mounts)
    });
    if !keep_folder && network.is_none() {
        crate::sandbox::remove_folder(&paths, &pod.namespace, &pod.name);
        crate::runtime::unmount_run_dir_if_unused(root);
    }
    Leftovers {
        processes: crate::cgroups::pod_processes(&pod.uid),
        cgroups: crate::cgroups::pod_dirs(&pod.uid),
        mounts,
        folder: (!keep_folder && network.is_none() && paths.dir.exists())
            .then(|| paths.dir.clone()),
        network,
    }
}

/// Remove what is in `dir` but the files `keep`.
fn remove_contents_but(dir: &Path, keep: &[&Path]) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if keep.contains(&path.as_path()) {
            continue;
        }
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
    }
}

/// Delete every container of the pod (`<uid>-<name>`) and its sandbox
/// (`<uid>__sandbox`) from libcontainer's state: those its record names (the
/// state folder holds every pod's containers, and listing it grew with the
/// pods), or without a readable record whatever the folder holds of the pod.
fn remove_containers(root: &Path, paths: &PodPaths) {
    let state_root = PodPaths::run_dir(root);
    let ids: Vec<String> = match crate::pod::read_json::<crate::pod::PodRecord>(&paths.record()) {
        Ok(record) => std::iter::once(paths.sandbox_id())
            .chain(
                record
                    .spec
                    .init_containers
                    .iter()
                    .chain(&record.spec.containers)
                    .map(|c| paths.container_id(&c.name)),
            )
            .collect(),
        Err(_) => std::fs::read_dir(&state_root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|id| id.starts_with(&format!("{}-", paths.uid)) || *id == paths.sandbox_id())
            .collect(),
    };
    for id in ids {
        crate::container::destroy(&state_root, &id);
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
