//! The facts about the host that a container's spec depends on, read once
//! so that building a spec reads nothing.

use std::path::Path;

/// The host as container specs need it.
#[derive(Debug, Clone)]
pub struct Host {
    /// Bytes of memory (`MemTotal`), for the OOM score of Burstable containers.
    pub memory_capacity: u64,
    /// Whether this process holds CAP_SYS_RESOURCE, which an
    /// `oom_score_adj` below 0 needs.
    pub cap_sys_resource: bool,
    /// `/proc/self/mounts`: where the cgroup hierarchies are.
    pub mounts: String,
    /// Co-mounted cgroup v1 controllers' links under /sys/fs/cgroup (`cpu -> cpu,cpuacct`).
    pub comount_links: Vec<(String, String)>,
    /// Whether the kernel has cgroup namespaces.
    pub cgroup_namespaces: bool,
    /// The masked paths of the default spec that are folders here
    /// (`/proc/acpi`, `/sys/firmware`): each is masked by a read-only bind
    /// of an empty folder rather than a tmpfs of its own (see
    /// [`super::security::mask_folders`]).
    pub masked_folders: Vec<String>,
}

impl Host {
    /// Read the facts now (the supervisor's create children do, so the
    /// long-lived supervisor keeps no copy of the mount table).
    pub fn read() -> Host {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Host {
            memory_capacity: memory_capacity(&meminfo),
            cap_sys_resource: has_cap_sys_resource(&status),
            mounts: std::fs::read_to_string("/proc/self/mounts").unwrap_or_default(),
            comount_links: crate::cgroups::comount_links(),
            cgroup_namespaces: Path::new("/proc/self/ns/cgroup").exists(),
            masked_folders: super::security::default_masked_paths()
                .into_iter()
                .filter(|p| Path::new(p).is_dir())
                .collect(),
        }
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes (1 GiB when unreadable).
pub fn memory_capacity(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(1 << 30, |kb| kb * 1024)
}

/// Whether the effective set of a `/proc/self/status` text holds CAP_SYS_RESOURCE (24).
fn has_cap_sys_resource(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix("CapEff:")
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_proc_texts() {
        assert_eq!(
            memory_capacity("MemTotal:       24570000 kB\nMemFree: 1 kB\n"),
            24_570_000 * 1024
        );
        assert_eq!(memory_capacity(""), 1 << 30);
        assert!(has_cap_sys_resource("CapEff:\t000001ffffffffff\n"));
        assert!(!has_cap_sys_resource("CapEff:\t000001fffeffffff\n"));
        assert!(!has_cap_sys_resource(""));
    }
}
