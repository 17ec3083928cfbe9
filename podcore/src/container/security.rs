//! What a container may do: its capabilities (Docker's and containerd's
//! defaults, drop then add, every one when privileged), its cgroups seen
//! read-only, and the OOM score the host lets us give it.

use std::path::Path;

use serde_json::{Value, json};

use super::host::Host;
use crate::cgroups;
use crate::spec::Container;

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

/// The capabilities of a container's process.
pub fn capabilities(container: &Container) -> Vec<String> {
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

/// `score` when this host lets us set it; a negative score needs
/// CAP_SYS_RESOURCE, without which the kernel refuses it (the score is then left alone).
pub fn permitted_oom_score_adj(score: i32, host: &Host) -> Option<i32> {
    (score >= 0 || host.cap_sys_resource).then_some(score)
}

/// Give the container its own cgroups read-only instead of libcontainer's
/// cgroupfs mount, which on v1 binds every hierarchy read-write whatever
/// the spec says (a container could raise its own limits, or make cgroups
/// in the host's named hierarchies). As Docker and containerd: a private
/// cgroup namespace where the kernel has them, and read-only files.
///
/// On v1 the hierarchies are bound on the folders of `mount_points`'s
/// `cgroup`, itself bound read-only at `/sys/fs/cgroup` (made by
/// [`super::make_mount_points`] from [`cgroup_mount_points`]). A tmpfs there,
/// made read-only afterwards as runc does, would cost each container a
/// filesystem of its own and, through libcontainer's `readonlyPaths`, a
/// second copy of every hierarchy's mount.
pub(super) fn read_only_cgroups(
    spec: &mut Value,
    mounts: &mut Vec<Value>,
    cgroup: &str,
    host: &Host,
    mount_points: &Path,
) {
    mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
    let view = cgroups::container_view(&host.mounts, cgroup);
    let v2 = view
        .first()
        .is_some_and(|(_, dest)| dest == Path::new("/sys/fs/cgroup"));
    let options = ["bind", "ro", "nosuid", "noexec", "nodev"];
    if !v2 {
        mounts.push(json!({
            "destination": "/sys/fs/cgroup", "type": "bind",
            "source": mount_points.join("cgroup"), "options": options,
        }));
    }
    let links = &host.comount_links;
    for (source, destination) in &view {
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
    if host.cgroup_namespaces
        && let Some(namespaces) = spec["linux"]["namespaces"].as_array_mut()
    {
        namespaces.push(json!({"type": "cgroup"}));
    }
}

/// The folders a container's read-only `/sys/fs/cgroup` holds on v1: one
/// per hierarchy bound there and per co-mount link; none on v2, where the
/// container's cgroup itself is bound there.
pub fn cgroup_mount_points(host: &Host, cgroup: &str) -> Vec<String> {
    let root = Path::new("/sys/fs/cgroup");
    let mut names = Vec::new();
    for (_, destination) in cgroups::container_view(&host.mounts, cgroup) {
        let Some(name) = destination
            .strip_prefix(root)
            .ok()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let links = host.comount_links.iter().filter(|(_, t)| t == name);
        names.extend(links.map(|(link, _)| link.clone()));
        names.push(name.to_string());
    }
    names
}

/// The default spec's masked paths (`/proc/kcore`, `/proc/acpi`, ...).
pub fn default_masked_paths() -> Vec<String> {
    oci_spec::runtime::Spec::default()
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
}

/// Mask the folders among the masked paths with read-only binds of the
/// empty folder `empty` instead of libcontainer's read-only tmpfs on each:
/// the same empty, unwritable folder to the container, without a
/// filesystem per folder per container. Every filesystem mounted at once
/// takes a shrinker id, and every memory cgroup made after holds a slot
/// for each id the host ever handed out, so fewer of them keep each pod's
/// cgroups small on a host that runs many pods. Masked files stay
/// libcontainer's (`/dev/null` bound over them, no filesystem of their own).
pub(super) fn mask_folders(spec: &mut Value, mounts: &mut Vec<Value>, host: &Host, empty: &Path) {
    let Some(paths) = spec["linux"]["maskedPaths"].as_array_mut() else {
        return;
    };
    paths.retain(|path| {
        let Some(path) = path.as_str() else {
            return true;
        };
        if !host.masked_folders.iter().any(|f| f == path) {
            return true;
        }
        mounts.push(json!({
            "destination": path, "type": "bind", "source": empty,
            "options": ["bind", "ro", "nosuid", "noexec", "nodev"],
        }));
        false
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fixtures::container;

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
