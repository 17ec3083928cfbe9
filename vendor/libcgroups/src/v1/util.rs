use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    let reader = BufReader::new(ProcfsHandle::new()?.open(
        ProcfsBase::ProcSelf,
        "mountinfo",
        OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC,
    )?);

    reader
        .lines()
        .map(|lr| {
            lr.map_err(V1MountPointError::Io)
                .and_then(|line| MountInfo::from_line(&line).map_err(V1MountPointError::MountInfo))
        })
        .try_fold(Vec::new(), |mut mount_points, r| {
            r.map(|m| {
                if m.fs_type == "cgroup" {
                    mount_points.push(m.mount_point);
                }
                mount_points
            })
        })
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());

    for controller in CONTROLLERS {
        if let Ok(mount_point) = get_subsystem_mount_point(controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

/// The cgroup v1 mount points of this process's mount namespace, read from
/// mountinfo once per namespace (podctl's change, see PODCTL.md): one create
/// asks for every subsystem's mount point, and each read of mountinfo makes
/// the kernel print every mount of the namespace. Like runc's cache, this
/// assumes the hierarchies are not mounted or moved while the process runs.
fn cgroup_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    use std::os::unix::fs::MetadataExt;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<(u64, Vec<PathBuf>)>> = Mutex::new(None);
    // The namespace's inode: a process that enters or makes another mount
    // namespace reads that one's table anew.
    let namespace = std::fs::metadata("/proc/self/ns/mnt").map(|m| m.ino()).ok();
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let (Some(namespace), Some((cached, mounts))) = (namespace, cache.as_ref()) {
        if namespace == *cached {
            return Ok(mounts.clone());
        }
    }
    let mounts = list_subsystem_mount_points()?;
    if let Some(namespace) = namespace {
        *cache = Some((namespace, mounts.clone()));
    }
    Ok(mounts)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    cgroup_mount_points()?
        .into_iter()
        .find(|mount_point| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            match subsystem_name.as_str() {
                "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpu" => ["cpu,cpuacct", "cpu"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                _ => mount_point.ends_with(&subsystem_name),
            }
        })
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}
