//! The pod's shared namespaces, made and pinned before any of its
//! containers, the way CRI-O's `pinns` does: the network, IPC and UTS
//! namespaces are created by `podctl run` and bind-mounted at
//! `<root>/ns/<uid>/{net,ipc,uts}` in the host's mount namespace, the pod's
//! hostname and safe sysctls already set in them. pause and every app
//! container join them by those paths, so pause is one more container of
//! the pod, created side by side with the others, rather than the step
//! every container waits for; and they outlive a pause crash.
//!
//! `<root>/ns` is a private mount point of its own, a tmpfs (as `ip netns`
//! makes `/run/netns` one, and a pin's file on a disk would be one more
//! inode made and freed there for every pod): a pod's supervisor, in a mount
//! namespace of its own, binds its own pod's pins onto files of the root's run tmpfs and
//! drops the whole `<root>/ns` tree from its copy in one unmount, so neither
//! it nor its containers carry every other pod's pins (which every
//! container create would read through `/proc/self/mountinfo` and every new
//! mount namespace would copy), and pins made later do not propagate into
//! running supervisors. Once the supervisor holds them, the IPC and UTS pins
//! leave the host's table ([`release_to_supervisor`]): only the network's
//! stays there, for CNI and `port-forward`, so the host's table grows by one
//! mount a pod.
//!
//! The PID namespace is not pinned: a PID namespace lives by its first
//! process (the first to enter a pinned one would become its PID 1, and
//! with that process gone nothing more can enter it). With
//! `shareProcessNamespace` pause must be that PID 1, so it is created first
//! and the containers join `/proc/<pause pid>/ns/pid`.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns, unshare};

use crate::pod::{PodError, io};
use crate::spec::PodSpec;

/// A namespace kind the pod's containers share through a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    Net,
    Ipc,
    Uts,
}

impl Shared {
    /// Its name under `/proc/<pid>/ns/` (and of its pin).
    pub fn file(self) -> &'static str {
        match self {
            Self::Net => "net",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
        }
    }

    fn flag(self) -> CloneFlags {
        match self {
            Self::Net => CloneFlags::CLONE_NEWNET,
            Self::Ipc => CloneFlags::CLONE_NEWIPC,
            Self::Uts => CloneFlags::CLONE_NEWUTS,
        }
    }

    /// The sysctls that live in a namespace of this kind.
    fn owns_sysctl(self, name: &str) -> bool {
        match self {
            Self::Net => name.starts_with("net."),
            Self::Ipc => name.starts_with("kernel.shm") || name.starts_with("kernel.msg"),
            Self::Uts => false,
        }
    }
}

/// The kinds the pod shares through pins: net and uts unless `hostNetwork`
/// (a pod on the host's network has the host's hostname, as in
/// Kubernetes), ipc unless `hostIPC`.
pub fn wanted(pod: &PodSpec) -> Vec<Shared> {
    let mut kinds = Vec::new();
    if !pod.host_network {
        kinds.extend([Shared::Net, Shared::Uts]);
    }
    if !pod.host_ipc {
        kinds.push(Shared::Ipc);
    }
    kinds
}

/// The folder of the pod `uid`'s pins.
pub fn dir(root: &Path, uid: &str) -> PathBuf {
    root.join("ns").join(uid)
}

/// Where the pod's namespace of `kind` is pinned.
pub fn path(root: &Path, uid: &str, kind: Shared) -> PathBuf {
    dir(root, uid).join(kind.file())
}

/// The pod's pinned namespace of `kind`, when it is pinned and visible from
/// this mount namespace.
pub fn pinned(root: &Path, uid: &str, kind: Shared) -> Option<PathBuf> {
    let path = path(root, uid, kind);
    is_namespace(&path).then_some(path)
}

/// A namespace file (nsfs): a pin, not the empty file it is mounted on.
pub fn is_namespace(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Make and pin each of `kinds` the pod has not pinned yet, in one
/// `unshare`: the UTS one gets the pod's hostname, the network one `lo`
/// up, each its share of the pod's sysctls. The calling thread is back in
/// its own namespaces afterwards; nothing is left pinned on failure.
pub fn pin(root: &Path, uid: &str, pod: &PodSpec, kinds: &[Shared]) -> Result<(), PodError> {
    let kinds: Vec<Shared> = kinds
        .iter()
        .copied()
        .filter(|&k| pinned(root, uid, k).is_none())
        .collect();
    if kinds.is_empty() {
        return Ok(());
    }
    let all = root.join("ns");
    std::fs::create_dir_all(&all).map_err(io("create", &all))?;
    own_mount_point(&all)?;
    let folder = dir(root, uid);
    std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
    let own_path = |kind: Shared| PathBuf::from(format!("/proc/thread-self/ns/{}", kind.file()));
    let own: Vec<(Shared, File)> = kinds
        .iter()
        .map(|&k| {
            let path = own_path(k);
            File::open(&path).map(|f| (k, f)).map_err(io("open", &path))
        })
        .collect::<Result<_, _>>()?;
    let flags = kinds.iter().fold(CloneFlags::empty(), |f, k| f | k.flag());
    let made = unshare(flags)
        .map_err(|e| io("make the pod's namespaces for", &folder)(e.into()))
        .and_then(|()| {
            for &kind in &kinds {
                let pin = path(root, uid, kind);
                File::create(&pin).map_err(io("create", &pin))?;
                nix::mount::mount(
                    Some(&own_path(kind)),
                    &pin,
                    None::<&str>,
                    nix::mount::MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| io("pin a namespace at", &pin)(e.into()))?;
            }
            set_up_inside(pod, &kinds, &folder)
        });
    // Back to where this thread was, whatever happened.
    let back: Result<(), PodError> = own.iter().try_for_each(|(kind, file)| {
        setns(file.as_fd(), kind.flag()).map_err(|e| {
            io(
                "return to this process's namespace from",
                &path(root, uid, *kind),
            )(e.into())
        })
    });
    if let Err(error) = made {
        unpin(root, uid, &kinds);
        return Err(error);
    }
    back
}

/// Make `dir` a private mount point, a tmpfs, unless it is one.
fn own_mount_point(dir: &Path) -> Result<(), PodError> {
    use nix::mount::{MsFlags, mount};
    let private = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
    };
    // EINVAL: not a mount point yet.
    if private().is_ok() {
        return Ok(());
    }
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0700"),
    )
    .and_then(|()| private())
    .map_err(|e| io("make a private mount point of", dir)(e.into()))
}

/// In a pod's supervisor, in its own mount namespace: bind the pod's pins
/// at `into` (see [`crate::pod::PodPaths::pins`]), then drop `<root>/ns` with every pod's
/// pins from this namespace. Pins the pod does not have are left out.
pub fn keep_own(root: &Path, uid: &str, into: &Path) -> Result<(), PodError> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    std::fs::create_dir_all(into).map_err(io("create", into))?;
    for kind in [Shared::Net, Shared::Ipc, Shared::Uts] {
        let Some(pin) = pinned(root, uid, kind) else {
            continue;
        };
        let target = into.join(kind.file());
        File::create(&target).map_err(io("create", &target))?;
        mount(
            Some(&pin),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| io("bind the pod's pin at", &target)(e.into()))?;
    }
    let all = root.join("ns");
    match umount2(&all, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (pins made by an older podctl).
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(io("drop the other pods' pins at", &all)(e.into())),
    }
}

/// Inside the new namespaces: hostname, `lo`, sysctls.
fn set_up_inside(pod: &PodSpec, kinds: &[Shared], folder: &Path) -> Result<(), PodError> {
    if kinds.contains(&Shared::Uts) {
        nix::unistd::sethostname(pod.uts_hostname())
            .map_err(|e| io("set the pod's hostname in", folder)(e.into()))?;
    }
    if kinds.contains(&Shared::Net) {
        crate::sandbox::set_up("lo").map_err(io("bring up lo in", folder))?;
    }
    for (name, value) in &pod.sysctls {
        if kinds.iter().any(|k| k.owns_sysctl(name)) {
            let file = Path::new("/proc/sys").join(name.replace('.', "/"));
            std::fs::write(&file, value).map_err(io("set the sysctl", &file))?;
        }
    }
    Ok(())
}

/// Unpin (unmount and remove) the pod's pins of `kinds`; the namespaces
/// themselves go once no process is in them. Missing pins are fine.
pub fn unpin(root: &Path, uid: &str, kinds: &[Shared]) {
    for &kind in kinds {
        let pin = path(root, uid, kind);
        let _ = nix::mount::umount2(&pin, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&pin);
    }
    // Gone once it is empty; and `<root>/ns` with the last pod's pins (a
    // pin made meanwhile lands in the folder beneath: it works the same).
    let _ = std::fs::remove_dir(dir(root, uid));
    let all = root.join("ns");
    if std::fs::read_dir(&all).is_ok_and(|mut d| d.next().is_none()) {
        let _ = nix::mount::umount2(&all, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The pod's supervisor started and holds the pod's pins in its own mount
/// namespace: the IPC and UTS pins leave the host's table (the network's
/// stays, for CNI and `port-forward`).
pub fn release_to_supervisor(root: &Path, uid: &str) {
    for kind in [Shared::Ipc, Shared::Uts] {
        let pin = path(root, uid, kind);
        let _ = nix::mount::umount2(&pin, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&pin);
    }
}

/// Unpin every namespace of the pod.
pub fn unpin_all(root: &Path, uid: &str) {
    unpin(root, uid, &[Shared::Net, Shared::Ipc, Shared::Uts]);
}

/// Where each of a pod's containers finds the namespaces it joins; `None`
/// is the host's (for pause and the app containers) or, for `pid`, a
/// namespace of the container's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joined {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// pause's PID namespace (`shareProcessNamespace`): app containers only.
    pub pid: Option<PathBuf>,
}

impl Joined {
    /// The pod's pins in `pins` (see [`keep_own`]), and pause's PID
    /// namespace when it is shared (`pause_pid` known). An error names a pin
    /// the pod should have but has not: it was removed behind podctl's back.
    pub fn of(pins: &Path, pod: &PodSpec, pause_pid: Option<i32>) -> Result<Self, String> {
        let mut joined = Self::default();
        for kind in wanted(pod) {
            let pin = pins.join(kind.file());
            if !is_namespace(&pin) {
                return Err(format!(
                    "the pod's {} namespace is not pinned at {} (removed by hand?): delete the pod and run it again",
                    kind.file(),
                    pin.display()
                ));
            }
            match kind {
                Shared::Net => joined.net = Some(pin),
                Shared::Ipc => joined.ipc = Some(pin),
                Shared::Uts => joined.uts = Some(pin),
            }
        }
        if pod.share_process_namespace && !pod.host_pid {
            joined.pid = pause_pid.map(|pid| PathBuf::from(format!("/proc/{pid}/ns/pid")));
        }
        Ok(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_namespaces_are_not_pinned_and_sysctls_go_to_their_kind() {
        let pod = |yaml: &str| {
            crate::spec::parse(yaml, crate::spec::Format::Yaml)
                .unwrap()
                .remove(0)
                .pod
        };
        let plain = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n",
        );
        assert_eq!(wanted(&plain), vec![Shared::Net, Shared::Uts, Shared::Ipc]);
        let host = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {hostNetwork: true, hostIPC: true, containers: [{name: c, image: busybox}]}\n",
        );
        assert!(wanted(&host).is_empty());
        assert!(Shared::Net.owns_sysctl("net.ipv4.ping_group_range"));
        assert!(Shared::Ipc.owns_sysctl("kernel.shm_rmid_forced"));
        assert!(!Shared::Uts.owns_sysctl("kernel.shm_rmid_forced"));
    }
}
