//! A pod on disk: its folder, its record (what to run) and its status (what
//! is running), both written atomically so that every reader sees a whole file.
//!
//! ```text
//! <root>/pods/<uid>/pod.json       the record: spec, resolved images, options
//! <root>/pods/<uid>/status.json    the status, rewritten on every change
//! <root>/pods/<uid>/supervisor.pid the supervisor's pid (for people; podctl asks the lock)
//! <root>/pods/<uid>/supervisor.lock locked by the live supervisor
//! <root>/pods/<uid>/supervisor.log the supervisor's output
//! <root>/pods/<uid>/control.sock   the supervisor's control socket (root only)
//! <root>/pods/<uid>/_sandbox/      pause's root filesystem
//! <root>/pods/<uid>/etc/           hosts, hostname, resolv.conf
//! <root>/pods/<uid>/shm/           the pod's /dev/shm (a tmpfs)
//! <root>/pods/<uid>/volumes/NAME/  emptyDir volumes
//! <root>/pods/<uid>/containers/NAME/{rootfs,upper,work}
//! <root>/pods/<uid>/logs/NAME/<restart>.log
//! <root>/pods/by-name/<namespace>_<name> -> ../<uid>   (one pod per name)
//! <root>/run/                     a tmpfs (see [`PodPaths::mount_run_dir`]):
//! <root>/run/<uid>-<name>/         libcontainer's state of a container
//! <root>/run/<uid>__sandbox/       libcontainer's state of pause
//! <root>/run/bundles/<id>/         each container's bundle (`config.json`)
//! <root>/run/pins/<uid>/           where the pod's supervisor binds its pins
//! ```

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::PathError;
use crate::spec::PodSpec;

/// How many of the namespace's pods a not-found error names.
const HINTED_PODS: usize = 10;

/// ` (pods: a, b, ...)` for a not-found error: the first [`HINTED_PODS`]
/// names and how many more, so a typo among 900 pods is not answered with
/// all 900 names.
fn pods_hint(existing: &[String]) -> String {
    match existing.len() {
        0 => String::new(),
        n if n <= HINTED_PODS => format!(" (pods: {})", existing.join(", ")),
        n => format!(
            " (pods: {} and {} more)",
            existing[..HINTED_PODS].join(", "),
            n - HINTED_PODS
        ),
    }
}

/// Errors reading or writing pod records.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("pod {name:?} not found{}", pods_hint(.existing))]
    NotFound { name: String, existing: Vec<String> },
    #[error(
        "pod {name:?} already exists in namespace {namespace:?}: delete it first or pick another name"
    )]
    Exists { namespace: String, name: String },
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn io<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> PodError + 'a {
    move |source| PodError::Io(PathError::new(context, path, source))
}

/// The folders and files of one pod.
#[derive(Debug, Clone)]
pub struct PodPaths {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub uid: String,
}

impl PodPaths {
    pub fn new(root: &Path, uid: &str) -> Self {
        Self {
            root: root.to_path_buf(),
            dir: root.join("pods").join(uid),
            uid: uid.to_string(),
        }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("pod.json")
    }
    /// The pod's pinned namespaces as its supervisor sees them (see
    /// [`crate::namespaces::keep_own`]): bound in its mount namespace only,
    /// onto files of the root's run tmpfs.
    pub fn pins(&self) -> PathBuf {
        Self::run_dir(&self.root).join("pins").join(&self.uid)
    }
    /// What the pod got from CNI (see [`crate::network::Attachment`]).
    pub fn network(&self) -> PathBuf {
        self.dir.join("network.json")
    }
    pub fn status(&self) -> PathBuf {
        self.dir.join("status.json")
    }
    /// Held (a POSIX lock) by the pod's supervisor while it lives; see [`crate::control`].
    pub fn supervisor_lock(&self) -> PathBuf {
        self.dir.join("supervisor.lock")
    }
    pub fn supervisor_pid(&self) -> PathBuf {
        self.dir.join("supervisor.pid")
    }
    /// The supervisor's stdout and stderr.
    pub fn supervisor_log(&self) -> PathBuf {
        self.dir.join("supervisor.log")
    }
    /// The supervisor's control socket; see [`crate::control`].
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }
    pub fn shm(&self) -> PathBuf {
        self.dir.join("shm")
    }
    pub fn volume(&self, name: &str) -> PathBuf {
        self.dir.join("volumes").join(name)
    }
    pub fn container(&self, name: &str) -> PathBuf {
        self.dir.join("containers").join(name)
    }
    /// The folders a container's read-only binds cover its masked paths and
    /// cgroup mount points with, made afresh for each run (see
    /// [`crate::container::make_mount_points`]): in its bundle, on the run
    /// folder's tmpfs, and removed with it.
    pub fn mount_points(&self, name: &str) -> PathBuf {
        crate::container::runtime::bundle_dir(&Self::run_dir(&self.root), &self.container_id(name))
            .join("mount-points")
    }
    /// The host file bound at a container's `terminationMessagePath`.
    pub fn termination_log(&self, name: &str) -> PathBuf {
        self.container(name).join("termination-log")
    }
    pub fn logs(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(name)
    }
    pub fn log_file(&self, name: &str, restart: u32) -> PathBuf {
        crate::logs::run_file(&self.logs(name), restart)
    }
    /// libcontainer's state root for every container of every pod of
    /// `root`: a tmpfs of its own ([`PodPaths::mount_run_dir`]).
    pub fn run_dir(root: &Path) -> PathBuf {
        root.join("run")
    }
    /// Make the root's run folder a tmpfs when it is on a disk, as runc's
    /// and containerd's state is on `/run`: it means nothing after a reboot,
    /// and libcontainer rewrites (truncates) its files during every create.
    /// On a disk each rewrite frees blocks, which an ext4 without a journal
    /// and mounted with `discard` trims there and then: milliseconds of a
    /// container's create. The mount is private; every process (podctl and
    /// each supervisor, whose mount namespace holds a copy of it) sees the
    /// same files; it goes with the root's last pod
    /// ([`crate::runtime::unmount_run_dir_if_unused`]). Call it under the
    /// root's port lock, so that two runs do not stack two mounts.
    pub fn mount_run_dir(root: &Path) -> std::io::Result<()> {
        use nix::mount::MsFlags;
        let dir = Self::run_dir(root);
        std::fs::create_dir_all(&dir)?;
        if nix::sys::statfs::statfs(&dir)?.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC {
            return Ok(());
        }
        // Containers of an older podctl keep their state in the folder
        // itself: a tmpfs over it would hide them from `delete`. It stays a
        // folder until they are gone.
        if std::fs::read_dir(&dir)?.next().is_some() {
            return Ok(());
        }
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0700"),
        )?;
        nix::mount::mount(
            None::<&str>,
            &dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )?;
        Ok(())
    }
    /// The libcontainer id of a container of this pod.
    pub fn container_id(&self, name: &str) -> String {
        format!("{}-{name}", self.uid)
    }
    /// The sandbox's (pause's) libcontainer id: `_` is in no container
    /// name (DNS labels), so no container can take it.
    pub fn sandbox_id(&self) -> String {
        format!("{}_{SANDBOX}", self.uid)
    }
    /// The sandbox's folder (root filesystem), beside no container's.
    pub fn sandbox_dir(&self) -> PathBuf {
        self.dir.join(SANDBOX)
    }
    pub fn name_link(root: &Path, namespace: &str, name: &str) -> PathBuf {
        root.join("pods/by-name")
            .join(format!("{namespace}_{name}"))
    }
}

/// The sandbox's name in ids and folders; not a valid container name.
const SANDBOX: &str = "_sandbox";

/// What an image gives a container: its layers and its run defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedImage {
    pub reference: String,
    pub digest: String,
    /// Unpacked layer folders, bottom first.
    pub layers: Vec<PathBuf>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub stop_signal: Option<String>,
}

/// How a pod was asked to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOptions {
    /// Back-off: first delay and cap, in milliseconds.
    pub backoff_initial_ms: u64,
    pub backoff_cap_ms: u64,
    pub allow_host_paths: bool,
    pub allow_privileged: bool,
    /// hostNetwork, hostPID and hostIPC: the pod shares the host's namespaces.
    #[serde(default)]
    pub allow_host_namespaces: bool,
    /// A container's log file is rotated past this size (the kubelet's
    /// `containerLogMaxSize`, 10 MiB).
    #[serde(default = "default_log_max_size")]
    pub log_max_size: u64,
    /// Files kept per container run, the current one included (the
    /// kubelet's `containerLogMaxFiles`, 5).
    #[serde(default = "default_log_max_files")]
    pub log_max_files: u32,
    /// Where the pod's CNI network config and plugins are found.
    #[serde(default)]
    pub cni: crate::network::CniPaths,
    /// Who restarts the pod's containers.
    #[serde(default)]
    pub restart_mode: RestartMode,
    /// Where a restart's pull (`imagePullPolicy: Always`) finds its registries.
    #[serde(default)]
    pub registries: RegistryOptions,
}

/// The registry settings a pod's pulls use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistryOptions {
    /// The registries config (mirrors, plain-HTTP registries).
    pub config: PathBuf,
    /// More plain-HTTP registries.
    #[serde(default)]
    pub insecure: Vec<String>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            config: crate::image::registry::config::DEFAULT_CONFIG.into(),
            insecure: Vec::new(),
        }
    }
}

/// Who decides that a container starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartMode {
    /// The supervisor, by the pod's `restartPolicy` and the kubelet's back-off.
    #[default]
    Policy,
    /// A client over the control channel (the CRI's model: the kubelet
    /// decides): containers run once and are started again only on request,
    /// and the sandbox lives until it is stopped.
    Client,
}

fn default_log_max_size() -> u64 {
    10 << 20
}

fn default_log_max_files() -> u32 {
    5
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            backoff_initial_ms: 10_000,
            backoff_cap_ms: 300_000,
            allow_host_paths: false,
            allow_privileged: false,
            allow_host_namespaces: false,
            log_max_size: default_log_max_size(),
            log_max_files: default_log_max_files(),
            cni: crate::network::CniPaths::default(),
            restart_mode: RestartMode::default(),
            registries: RegistryOptions::default(),
        }
    }
}

/// What to run: written once by `podctl run`, read by the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodRecord {
    pub uid: String,
    pub created: DateTime<Utc>,
    pub spec: PodSpec,
    /// Per container name.
    pub images: std::collections::BTreeMap<String, ResolvedImage>,
    pub pause: ResolvedImage,
    pub options: RunOptions,
    /// The pod's QoS class, fixed when it was made (its cgroup's place),
    /// whatever containers are added later.
    #[serde(default)]
    pub qos_class: Option<crate::spec::QosClass>,
}

/// Write a JSON file atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), PodError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| PodError::Json {
        what: format!("encode {}", path.display()),
        source,
    })?;
    crate::fsutil::write_atomic(path, &bytes).map_err(io("write", path))
}

/// Read a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PodError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|source| PodError::Json {
        what: format!("parse {}", path.display()),
        source,
    })
}

/// Reserve `namespace/name` for the pod `uid`: exactly one of several
/// concurrent callers wins (the name link is created atomically).
pub fn claim_name(root: &Path, namespace: &str, name: &str, uid: &str) -> Result<(), PodError> {
    let link = PodPaths::name_link(root, namespace, name);
    let dir = link.parent().expect("name links live in a folder");
    let pods = dir
        .parent()
        .expect("the name links' folder is in the pods' folder");
    std::fs::create_dir_all(pods).map_err(io("create", pods))?;
    crate::fsutil::spread_subfolders(pods);
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    match std::os::unix::fs::symlink(format!("../{uid}"), &link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PodError::Exists {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }),
        Err(e) => Err(io("create", &link)(e)),
    }
}

/// Release a name claimed by [`claim_name`] if it still points at `uid`.
pub fn release_name(root: &Path, namespace: &str, name: &str, uid: &str) {
    let link = PodPaths::name_link(root, namespace, name);
    if std::fs::read_link(&link).is_ok_and(|t| t.ends_with(uid)) {
        let _ = std::fs::remove_file(&link);
    }
}

/// A pod found on disk.
#[derive(Debug, Clone)]
pub struct PodEntry {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRecord {
    /// The pod's QoS class (see [`PodRecord::qos_class`]).
    pub fn qos(&self) -> crate::spec::QosClass {
        self.qos_class.unwrap_or_else(|| self.spec.qos_class())
    }

    /// A container's cgroup (the sandbox's for [`SANDBOX`]), relative to
    /// each hierarchy's root.
    pub fn cgroup(&self, container: &str) -> String {
        format!(
            "{}/{container}",
            crate::cgroups::pod_cgroup(self.qos(), &self.uid)
        )
    }

    /// The sandbox's cgroup.
    pub fn sandbox_cgroup(&self) -> String {
        self.cgroup(SANDBOX)
    }

    /// The pod's entry: uid, namespace and name.
    pub fn entry(&self) -> PodEntry {
        PodEntry {
            namespace: self.spec.namespace.clone(),
            name: self.spec.name.clone(),
            uid: self.uid.clone(),
        }
    }
}

/// Every pod of the root, by name.
pub fn list(root: &Path) -> Vec<PodEntry> {
    let dir = root.join("pods/by-name");
    let mut out: Vec<PodEntry> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let (namespace, name) = file_name.split_once('_')?;
            let target = std::fs::read_link(entry.path()).ok()?;
            let uid = target.file_name()?.to_string_lossy().into_owned();
            Some(PodEntry {
                namespace: namespace.into(),
                name: name.into(),
                uid,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

/// Find a pod by name in `namespace`.
///
/// Its `by-name` link is read alone (every command naming a pod used to
/// read every pod's link: a `delete` of one pod among 900 made 900
/// readlinks); the namespace's pods are listed only for the error.
pub fn find(root: &Path, namespace: &str, name: &str) -> Result<PodEntry, PodError> {
    let named = (!namespace.contains('/') && !name.contains('/'))
        .then(|| std::fs::read_link(PodPaths::name_link(root, namespace, name)).ok())
        .flatten()
        .and_then(|target| Some(target.file_name()?.to_string_lossy().into_owned()));
    if let Some(uid) = named {
        return Ok(PodEntry {
            namespace: namespace.into(),
            name: name.into(),
            uid,
        });
    }
    Err(PodError::NotFound {
        name: name.to_string(),
        existing: list(root)
            .into_iter()
            .filter(|p| p.namespace == namespace)
            .map(|p| p.name)
            .collect(),
    })
}

/// The images the pods of the root use (their containers' and pause's), each
/// with the pods using it (`namespace/name`).
pub fn image_users(root: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut users: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for entry in list(root) {
        let paths = PodPaths::new(root, &entry.uid);
        let Ok(record) = read_json::<PodRecord>(&paths.record()) else {
            continue;
        };
        let pod = format!("{}/{}", entry.namespace, entry.name);
        let mut references: Vec<String> =
            record.images.into_values().map(|i| i.reference).collect();
        references.push(record.pause.reference);
        references.sort();
        references.dedup();
        for reference in references {
            users.entry(reference).or_default().push(pod.clone());
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::PodError;

    #[test]
    fn a_not_found_error_names_at_most_ten_of_the_pods() {
        let error = |n: usize| {
            PodError::NotFound {
                name: "nope".into(),
                existing: (0..n).map(|i| format!("p{i}")).collect(),
            }
            .to_string()
        };
        assert_eq!(error(0), "pod \"nope\" not found");
        assert_eq!(error(2), "pod \"nope\" not found (pods: p0, p1)");
        assert_eq!(
            error(10),
            "pod \"nope\" not found (pods: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9)"
        );
        assert_eq!(
            error(900),
            "pod \"nope\" not found (pods: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9 and 890 more)"
        );
    }
}
