//! Turning a parsed pod into a pod on disk, ready for its supervisor:
//! images resolved and unpacked, the name claimed, the record written.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;

use crate::image::{Image, Store};
use crate::pod::{PodPaths, PodRecord, ResolvedImage, RunOptions, claim_name, release_name};
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

/// What a container needs of its image: its unpacked layers and run defaults.
pub fn resolved(store: &Store, image: &Image) -> Result<ResolvedImage, crate::image::Error> {
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

/// A prepared pod: its record, and the record's write to disk, which may
/// still be under way ([`RecordWrite`]).
pub struct Prepared {
    pub record: PodRecord,
    pub written: RecordWrite,
}

/// `pod.json` being written (temp file, fsync, rename) on a thread of its
/// own, and the bytes it holds: podctl hands those to the pod's supervisor
/// over a pipe, so neither waits for the disk before the supervisor starts.
/// [`RecordWrite::wait`] must succeed before podctl tells the supervisor to
/// go on past pause (see [`crate::supervisor::NETWORK_MADE`]).
///
/// Dropped unwaited (an error on the way), it still waits for the write, so
/// that no thread writes into a pod folder being removed.
pub struct RecordWrite {
    bytes: std::sync::Arc<Vec<u8>>,
    path: std::path::PathBuf,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RecordWrite {
    /// The record as written, for the supervisor.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Wait until the record is on disk.
    pub fn wait(mut self) -> Result<(), PrepareError> {
        self.join()
            .map_err(|e| crate::pod::io("write", &self.path)(e).into())
    }

    fn join(&mut self) -> std::io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "the thread writing the record panicked",
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for RecordWrite {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Resolve every container's image (unpacking layers on first use), claim
/// the pod's name, start writing its record and pin its namespaces. Nothing
/// is left behind on failure (but a failed write of the record, which
/// [`RecordWrite::wait`] reports: the caller then removes the pod). The
/// network is [`make_network`]'s, once the pod's supervisor is on its way.
pub fn prepare(
    root: &Path,
    store: &Store,
    pod: PodSpec,
    options: RunOptions,
) -> Result<Prepared, PrepareError> {
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
    let qos = pod.qos_class();
    let record = PodRecord {
        uid: uid.clone(),
        created: Utc::now(),
        spec: pod,
        images,
        pause,
        options,
        qos_class: Some(qos),
    };
    // hostPorts are checked and claimed (the record written) under one lock,
    // so two runs cannot both take a port: the thread writing the record
    // lets it go once the record is in place.
    let ports = port_lock(root)?;
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
    // The pod's folder is root's alone: its volumes hold Secrets' files,
    // its logs what its containers print (containers reach their volumes
    // through bind mounts, not through this folder).
    let made = std::fs::create_dir_all(&paths.dir)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700))
        })
        .map_err(crate::pod::io("create", &paths.dir))
        .and_then(|()| {
            PodPaths::mount_run_dir(root)
                .map_err(crate::pod::io("mount a tmpfs at", &PodPaths::run_dir(root)))
        });
    if let Err(error) = made {
        undo();
        return Err(error.into());
    }
    // The record is written (two fsyncs) on a thread of its own while this
    // one pins the namespaces and the supervisor starts; the supervisor gets
    // the same bytes over a pipe. (`pin` enters and leaves the new
    // namespaces on its own thread: network, UTS and IPC namespaces are a
    // thread's.)
    let bytes = match serde_json::to_vec_pretty(&record) {
        Ok(bytes) => std::sync::Arc::new(bytes),
        Err(source) => {
            undo();
            return Err(crate::pod::PodError::Json {
                what: format!("encode {}", paths.record().display()),
                source,
            }
            .into());
        }
    };
    let thread = {
        let (path, bytes) = (paths.record(), bytes.clone());
        std::thread::Builder::new()
            .name("record-write".into())
            .spawn(move || {
                let written = crate::fsutil::write_atomic(&path, &bytes);
                drop(ports);
                written
            })
    };
    let thread = match thread {
        Ok(thread) => thread,
        Err(e) => {
            undo();
            return Err(crate::pod::io("write", &paths.record())(e).into());
        }
    };
    let written = RecordWrite {
        bytes,
        path: paths.record(),
        thread: Some(thread),
    };
    let started = std::time::Instant::now();
    let kinds = crate::namespaces::wanted(&record.spec);
    let pinned = crate::namespaces::pin(root, &uid, &record.spec, &kinds);
    tracing::debug!(
        "step namespaces pinned ({}): {:.1} ms",
        kinds
            .iter()
            .map(|k| k.file())
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Err(error) = pinned {
        let _ = written.wait();
        undo();
        return Err(error.into());
    }
    Ok(Prepared { record, written })
}

/// Make the pod's network (nothing with hostNetwork), pinned by
/// [`prepare`]. podctl does this while the pod's supervisor starts and
/// creates pause, which need no network, and then tells it to go on
/// ([`crate::supervisor::NETWORK_MADE`]). On an error the network's own
/// part is given back; the rest of the pod goes with its teardown.
pub fn make_network(root: &Path, record: &PodRecord) -> Result<(), PrepareError> {
    if record.spec.host_network {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let made = crate::network::setup(root, record, &record.options.cni);
    tracing::debug!(
        "step pod network: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    made.map(drop).map_err(PrepareError::from)
}

/// Make the root's run folder a tmpfs ([`PodPaths::mount_run_dir`]) under
/// the root's port lock: for `recover`, after a reboot took it.
pub fn mount_run_dir(root: &Path) -> Result<(), PrepareError> {
    let _ports = port_lock(root)?;
    let dir = PodPaths::run_dir(root);
    PodPaths::mount_run_dir(root).map_err(|e| crate::pod::io("mount a tmpfs at", &dir)(e).into())
}

/// Unmount the root's run tmpfs once the root has no pod folder left, under
/// the port lock (a `run` makes its pod's folder under it, so none starts
/// meanwhile): nothing of podctl stays mounted on a root without pods.
pub fn unmount_run_dir_if_unused(root: &Path) {
    let Ok(_ports) = port_lock(root) else {
        return;
    };
    let in_use = std::fs::read_dir(root.join("pods"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name() != "by-name");
    if !in_use {
        // Not a mount point (a root on a tmpfs): nothing to do, EINVAL.
        let _ = nix::mount::umount2(&PodPaths::run_dir(root), nix::mount::MntFlags::MNT_DETACH);
    }
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
