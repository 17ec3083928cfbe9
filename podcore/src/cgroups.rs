//! Cgroups: where a pod's containers go and what limits they get, by the
//! kubelet's arithmetic; and removing a pod's cgroups on v1 and v2 hosts.

use std::path::{Path, PathBuf};

use crate::spec::{QosClass, Resources};

/// The CFS period every quota is expressed in (100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;
/// The fewest CPU shares a cgroup gets (BestEffort, and pause).
pub const MIN_SHARES: u64 = 2;
/// Default pids limit per container, so a fork bomb stays in its container.
pub const DEFAULT_PIDS_LIMIT: i64 = 4096;

/// The pod's cgroup, relative to each hierarchy's root: `podctl/<qos>/pod<uid>`
/// (`podctl/pod<uid>` for Guaranteed, as the kubelet's `kubepods/pod<uid>`).
pub fn pod_cgroup(qos: QosClass, uid: &str) -> String {
    match qos {
        QosClass::Guaranteed => format!("podctl/pod{uid}"),
        QosClass::Burstable => format!("podctl/burstable/pod{uid}"),
        QosClass::BestEffort => format!("podctl/besteffort/pod{uid}"),
    }
}

/// Limits for a container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub cpu_shares: u64,
    pub cpu_quota: Option<i64>,
    pub memory_limit: Option<i64>,
    pub pids_limit: i64,
}

/// The kubelet's mapping: shares = request milli-CPU x 1024 / 1000 (at least 2),
/// quota = limit milli-CPU x period / 1000, memory limit = the memory limit.
pub fn limits(resources: &Resources) -> Limits {
    let cpu_shares = resources
        .cpu_request
        .map_or(MIN_SHARES, |m| (m * 1024 / 1000).max(MIN_SHARES));
    let cpu_quota = resources
        .cpu_limit
        .map(|m| ((m * CFS_PERIOD_US / 1000) as i64).max(1000));
    Limits {
        cpu_shares,
        cpu_quota,
        memory_limit: resources.memory_limit.map(|b| b as i64),
        pids_limit: DEFAULT_PIDS_LIMIT,
    }
}

/// The kubelet's `oom_score_adj` for a container of a pod of `qos`.
pub fn oom_score_adj(qos: QosClass, memory_request: Option<u64>, memory_capacity: u64) -> i32 {
    match qos {
        QosClass::Guaranteed => -997,
        QosClass::BestEffort => 1000,
        QosClass::Burstable => {
            let request = memory_request.unwrap_or(0) as u128;
            let adj = 1000 - (1000 * request / memory_capacity.max(1) as u128) as i64;
            adj.clamp(2, 999) as i32
        }
    }
}

/// Every mounted cgroup hierarchy: v1 controllers' folders, or the one v2 root.
///
/// Read from `/proc/self/mounts` once per process and mount namespace, as
/// the workspace's libcgroups and runc do (hierarchies are not mounted or
/// moved while podctl runs): the table holds a network namespace pin per
/// pod, and a pod's removal asked for the hierarchies five times, the
/// kernel printing every pin each time.
pub fn hierarchies() -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    static READ: std::sync::Mutex<Option<(u64, Vec<PathBuf>)>> = std::sync::Mutex::new(None);
    let namespace = std::fs::metadata("/proc/self/ns/mnt").map_or(0, |m| m.ino());
    let mut read = READ.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((of, hierarchies)) = read.as_ref()
        && *of == namespace
    {
        return hierarchies.clone();
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let hierarchies = hierarchies_in(&mounts);
    if !hierarchies.is_empty() {
        *read = Some((namespace, hierarchies.clone()));
    }
    hierarchies
}

/// The cgroup hierarchies' mount points in `mounts` (`/proc/self/mounts`).
fn hierarchies_in(mounts: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, target, kind) = (fields.next()?, fields.next()?, fields.next()?);
            matches!(kind, "cgroup" | "cgroup2").then(|| PathBuf::from(target))
        })
        .collect()
}

/// What a container sees at `/sys/fs/cgroup`: its own cgroup of every
/// hierarchy, bound read-only, as `(host folder, path in the container)`.
///
/// On a v2 host that is the container's cgroup at `/sys/fs/cgroup` itself;
/// on v1 each controller's hierarchy at `/sys/fs/cgroup/<mount name>` (and
/// again at the names of the host's symlinks to it, such as `cpu` ->
/// `cpu,cpuacct`). Named hierarchies (`name=systemd`) and a hybrid host's
/// `unified` mount hold no cgroup of the container and are left out.
/// `mounts` is `/proc/self/mounts`; `cgroup` the container's cgroup path.
pub fn container_view(mounts: &str, cgroup: &str) -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new("/sys/fs/cgroup");
    let cgroup = cgroup.trim_start_matches('/');
    let mut view = Vec::new();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, target, kind, options, ..] = fields[..] else {
            continue;
        };
        let target = Path::new(target);
        match kind {
            "cgroup2" if target == root => {
                return vec![(root.join(cgroup), root.to_path_buf())];
            }
            "cgroup" if target.parent() == Some(root) => {
                if options.split(',').any(|o| o.starts_with("name=")) {
                    continue;
                }
                let name = target.file_name().expect("a mount below /sys/fs/cgroup");
                view.push((target.join(cgroup), root.join(name)));
            }
            _ => {}
        }
    }
    view
}

/// The host's symlinks in `/sys/fs/cgroup` (`cpu` -> `cpu,cpuacct`), as (link name, target name).
pub fn comount_links() -> Vec<(String, String)> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            Some((
                entry.file_name().to_str()?.to_string(),
                target.file_name()?.to_str()?.to_string(),
            ))
        })
        .collect()
}

/// Keeps the kernel's cgroup migration lock in its fast state while pods
/// start, on a cgroup v2 host.
///
/// Every write to a `cgroup.procs` file (libcontainer makes one per v1
/// hierarchy for each new container) takes the kernel's global
/// `cgroup_threadgroup_rwsem` for writing; when no writer came in the last
/// RCU grace period, that first takes a whole grace period (10-20 ms on this
/// project's VM: the larger part of a container's create). A writer that comes
/// within a grace period of the previous one pays nothing. So while it lives,
/// a `MigrationWarmth` rewrites this process's own cgroup membership (a move
/// into the cgroup it is already in: nothing changes) every few milliseconds
/// from a thread of its own: the one slow wait overlaps the rest of `podctl
/// run`'s work instead of every pod's first create. Best effort: where the
/// write is refused, nothing is kept warm and pods start as before.
///
/// On a v1 (or hybrid) host it does nothing: there the workspace's
/// libcgroups moves a container's intermediate process through the `tasks`
/// file, which takes no global lock, and the warming write would only hold
/// the cgroup mutex through a whole grace period, holding up every
/// container's cgroups meanwhile.
pub struct MigrationWarmth {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the warmth is renewed: well inside one grace period.
const WARMTH_PERIOD: std::time::Duration = std::time::Duration::from_millis(3);

impl MigrationWarmth {
    /// Start keeping the lock warm; it stops when this is dropped.
    pub fn start() -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        let thread = unified.then(own_procs_file).flatten().and_then(|path| {
            std::thread::Builder::new()
                .name("cgroup-warmth".into())
                .spawn(move || {
                    while let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(&path) {
                        use std::io::Write;
                        if file.write_all(b"0").is_err() {
                            return;
                        }
                        drop(file);
                        match stopped.recv_timeout(WARMTH_PERIOD) {
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                            _ => return,
                        }
                    }
                })
                .ok()
        });
        Self { stop, thread }
    }
}

impl Drop for MigrationWarmth {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `cgroup.procs` file of this process's own cgroup in one mounted
/// hierarchy (the lock is one for all hierarchies, v1 and v2).
fn own_procs_file() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    // Where hierarchies are usually mounted first, taken only when the file
    // lists this process (so writing to it moves it nowhere): the mount
    // table grows by a pin for every pod, and reading it is the slow way.
    let me = std::process::id().to_string();
    let lists_me = |path: &PathBuf| {
        std::fs::read_to_string(path).is_ok_and(|pids| pids.lines().any(|pid| pid == me))
    };
    if let Some(path) = usual_procs_files(&own).into_iter().find(lists_me) {
        return Some(path);
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    own_procs_file_in(&own, &mounts).filter(|path| path.is_file())
}

/// Where this process's `cgroup.procs` files are when the hierarchies are
/// mounted the usual way: v2 at `/sys/fs/cgroup` (or a hybrid host's
/// `/sys/fs/cgroup/unified`), each v1 hierarchy at `/sys/fs/cgroup/<its
/// controllers>`. `own` is `/proc/self/cgroup`.
fn usual_procs_files(own: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    own.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let path = path.trim_start_matches('/');
            Some(if controllers.is_empty() {
                vec![
                    base.join(path).join("cgroup.procs"),
                    base.join("unified").join(path).join("cgroup.procs"),
                ]
            } else if controllers.starts_with("name=") {
                vec![]
            } else {
                vec![base.join(controllers).join(path).join("cgroup.procs")]
            })
        })
        .flatten()
        .collect()
}

/// [`own_procs_file`] from the texts of `/proc/self/cgroup` and `/proc/self/mounts`.
fn own_procs_file_in(own: &str, mounts: &str) -> Option<PathBuf> {
    own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let target = mounts.lines().find_map(|mount| {
            let fields: Vec<&str> = mount.split_whitespace().collect();
            let (target, kind, options) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            let found = if controllers.is_empty() {
                *kind == "cgroup2"
            } else {
                *kind == "cgroup" && {
                    let options: Vec<&str> = options.split(',').collect();
                    controllers.split(',').all(|c| options.contains(&c))
                }
            };
            found.then(|| PathBuf::from(target))
        })?;
        Some(
            target
                .join(path.trim_start_matches('/'))
                .join("cgroup.procs"),
        )
    })
}

/// Remove the pod's cgroup folders (deepest first) in every hierarchy, and
/// the QoS parents when they are left empty. Processes must be gone.
pub fn remove_pod_cgroups(uid: &str) {
    let suffix = format!("pod{uid}");
    let hierarchies = hierarchies();
    for hierarchy in &hierarchies {
        for parent in ["podctl", "podctl/burstable", "podctl/besteffort"] {
            let dir = hierarchy.join(parent).join(&suffix);
            if dir.exists() {
                remove_tree(&dir);
            }
        }
    }
    // The QoS parents go with the last pod (rmdir leaves a parent in use
    // alone), but not under a container being created: its runtime makes
    // the folders one by one and would find a parent gone. When creates
    // hold the lock for long, the parents stay for a later pod to remove.
    let Some(_parents) = ParentsLock::exclusive() else {
        return;
    };
    for hierarchy in &hierarchies {
        for parent in ["podctl/burstable", "podctl/besteffort", "podctl"] {
            let _ = std::fs::remove_dir(hierarchy.join(parent));
        }
    }
}

/// The host-wide lock between containers being created (shared: each
/// holds it while its runtime makes its cgroup folders) and the removal of
/// the QoS parents (exclusive), which every podctl root shares.
pub struct ParentsLock {
    _held: nix::fcntl::Flock<std::fs::File>,
}

/// Where the lock lives: not under a root, as the cgroups are the host's.
const PARENTS_LOCK: &str = "/run/podctl-cgroup-parents.lock";

impl ParentsLock {
    fn open() -> Option<std::fs::File> {
        // Close-on-exec: a container's process, forked with it, lets go at its exec.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PARENTS_LOCK)
            .ok()
    }

    /// Held while a container is created; `None` where the lock file
    /// cannot be made (the race it closes is then left open, as before).
    pub fn shared() -> Option<Self> {
        let file = Self::open()?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockShared)
            .ok()
            .map(|held| Self { _held: held })
    }

    /// For removing the QoS parents: tried for up to a second.
    fn exclusive() -> Option<Self> {
        let mut file = Self::open()?;
        for _ in 0..100 {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(held) => return Some(Self { _held: held }),
                Err((back, _)) => file = back,
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }
}

/// The pod's cgroup folder in every hierarchy where it exists.
pub fn pod_dirs(uid: &str) -> Vec<PathBuf> {
    let suffix = format!("pod{uid}");
    hierarchies()
        .into_iter()
        .flat_map(|h| {
            ["podctl", "podctl/burstable", "podctl/besteffort"]
                .map(|parent| h.join(parent).join(&suffix))
        })
        .filter(|dir| dir.is_dir())
        .collect()
}

/// Every process in the pod's cgroups (any hierarchy, any depth).
pub fn pod_processes(uid: &str) -> Vec<i32> {
    fn walk(dir: &Path, out: &mut Vec<i32>) {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), out);
            }
        }
    }
    let mut pids = Vec::new();
    for dir in pod_dirs(uid) {
        walk(&dir, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Thaw every frozen cgroup of the pod (a frozen process cannot die of SIGKILL).
pub fn thaw_pod(uid: &str) {
    fn walk(dir: &Path) {
        // v1 freezer, v2 cgroup.freeze; a missing file is simply not this kind.
        let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path());
            }
        }
    }
    for dir in pod_dirs(uid) {
        walk(&dir);
    }
}

fn remove_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path());
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        tracing::warn!(path = %dir.display(), error = %e, "cannot remove cgroup");
    }
}

/// The cgroup folder of a container in the memory (v1) or unified (v2) hierarchy.
pub fn memory_cgroup_dir(cgroup: &str) -> Option<PathBuf> {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
    if v2.exists() {
        return Some(Path::new("/sys/fs/cgroup").join(cgroup));
    }
    let v1 = Path::new("/sys/fs/cgroup/memory").join(cgroup);
    Some(v1)
}

/// How many times the kernel's OOM killer acted in a cgroup, when it says.
pub fn oom_kills(cgroup: &str) -> Option<u64> {
    let dir = memory_cgroup_dir(cgroup)?;
    // v2 counts in memory.events, v1 (kernel 4.13 and later) in memory.oom_control.
    ["memory.events", "memory.oom_control"]
        .iter()
        .find_map(|file| {
            std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|text| parse_oom_kill(&text))
        })
}

/// The `oom_kill N` line of a cgroup's memory.events (v2) or memory.oom_control (v1).
fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_are_the_cgroup_mounts_and_the_cached_answer_this_namespace_s() {
        let mounts = "nsfs /run/podctl/ns/a/net nsfs rw 0 0\n\
            cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n\
            cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n\
            tmpfs /sys/fs/cgroup tmpfs ro 0 0\n";
        assert_eq!(
            hierarchies_in(mounts),
            [
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
            ]
        );
        // The cached answer is this namespace's table's.
        let table = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert_eq!(hierarchies(), hierarchies_in(&table));
        assert_eq!(hierarchies(), hierarchies_in(&table));
    }

    #[test]
    fn own_procs_file_on_v1_hybrid_and_v2_hosts() {
        let v1_mounts = "cgroup /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n\
            cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n\
            cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,pids 0 0\n";
        let own = "9:cpu,cpuacct:/user.slice\n8:pids:/\n0::/\n";
        assert_eq!(
            own_procs_file_in(own, v1_mounts),
            Some(PathBuf::from(
                "/sys/fs/cgroup/cpu,cpuacct/user.slice/cgroup.procs"
            ))
        );
        let v2_mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(
            own_procs_file_in("0::/init.scope\n", v2_mounts),
            Some(PathBuf::from("/sys/fs/cgroup/init.scope/cgroup.procs"))
        );
        assert_eq!(
            own_procs_file_in("0::/\n", "proc /proc proc rw 0 0\n"),
            None
        );
    }

    #[test]
    fn usual_procs_files_follow_the_usual_mount_points() {
        let own = "9:cpu,cpuacct:/user.slice\n1:name=systemd:/x\n0::/init.scope\n";
        assert_eq!(
            usual_procs_files(own),
            [
                "/sys/fs/cgroup/cpu,cpuacct/user.slice/cgroup.procs",
                "/sys/fs/cgroup/init.scope/cgroup.procs",
                "/sys/fs/cgroup/unified/init.scope/cgroup.procs",
            ]
            .map(PathBuf::from)
        );
    }

    /// On this host, the file found lists this process.
    #[test]
    fn own_procs_file_lists_this_process() {
        let path = own_procs_file().expect("a cgroup hierarchy is mounted");
        let pids = std::fs::read_to_string(&path).unwrap();
        let me = std::process::id().to_string();
        assert!(pids.lines().any(|pid| pid == me), "{}", path.display());
    }

    #[test]
    fn kubelet_arithmetic() {
        let r = Resources {
            cpu_request: Some(250),
            cpu_limit: Some(500),
            memory_request: None,
            memory_limit: Some(64 << 20),
        };
        assert_eq!(
            limits(&r),
            Limits {
                cpu_shares: 256,
                cpu_quota: Some(50_000),
                memory_limit: Some(64 << 20),
                pids_limit: 4096
            }
        );
        let none = limits(&Resources::default());
        assert_eq!(
            (none.cpu_shares, none.cpu_quota, none.memory_limit),
            (2, None, None)
        );
        let tiny = Resources {
            cpu_request: Some(1),
            ..Default::default()
        };
        assert_eq!(limits(&tiny).cpu_shares, 2);
    }

    #[test]
    fn a_container_sees_its_own_cgroups() {
        let v1 = "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\n\
                  cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n\
                  cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0\n\
                  cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                  proc /proc proc rw 0 0\n";
        assert_eq!(
            container_view(v1, "/podctl/podu/c"),
            [
                (
                    PathBuf::from("/sys/fs/cgroup/memory/podctl/podu/c"),
                    PathBuf::from("/sys/fs/cgroup/memory")
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/podctl/podu/c"),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
                ),
            ]
        );
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";
        assert_eq!(
            container_view(v2, "podctl/podu/c"),
            [(
                PathBuf::from("/sys/fs/cgroup/podctl/podu/c"),
                PathBuf::from("/sys/fs/cgroup")
            )]
        );
    }

    #[test]
    fn oom_kill_counts_on_v1_and_v2() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kill(v1), Some(2));
        assert_eq!(parse_oom_kill(v2), Some(1));
        assert_eq!(parse_oom_kill("oom_kill_disable 0\n"), None);
    }

    #[test]
    fn qos_parents_and_oom_scores() {
        assert_eq!(pod_cgroup(QosClass::Guaranteed, "u"), "podctl/podu");
        assert_eq!(
            pod_cgroup(QosClass::BestEffort, "u"),
            "podctl/besteffort/podu"
        );
        assert_eq!(oom_score_adj(QosClass::Guaranteed, None, 1), -997);
        assert_eq!(oom_score_adj(QosClass::BestEffort, None, 1), 1000);
        assert_eq!(oom_score_adj(QosClass::Burstable, Some(512), 1024), 500);
        assert_eq!(oom_score_adj(QosClass::Burstable, Some(2048), 1024), 2);
    }
}
