//! The pod sandbox: its folder, the files every container shares
//! (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`), the pod's `/dev/shm`,
//! emptyDir volumes, loopback in the pod's network namespace, and teardown.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::pod::{PodError, PodPaths, PodRecord, io};
use crate::spec::{Container, Dns, DnsPolicy, HostPathType, PodSpec, VolumeSource};

/// The kubelet's `/etc/hosts` for a pod.
pub fn hosts_file(pod: &PodSpec, pod_ip: Option<&str>) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    // Without a pod network the pod's own name resolves to a loopback address.
    let names = match pod.fqdn() {
        Some(fqdn) => format!("{fqdn}\t{}", pod.hostname),
        None => pod.hostname.clone(),
    };
    out.push_str(&format!("{}\t{names}\n", pod_ip.unwrap_or("127.0.1.1")));
    if !pod.host_aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for alias in &pod.host_aliases {
            out.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.join("\t")));
        }
    }
    out
}

/// The pod's resolv.conf: the host's (no cluster DNS on one host, as the
/// kubelet does without one) unless `dnsPolicy: None`, then `dnsConfig`'s
/// nameservers and searches added (at most 3 and 32) and its options
/// merged by name (a later value wins).
pub fn resolv_conf(host: &str, dns: &Dns) -> String {
    let mut nameservers = Vec::new();
    let mut searches: Vec<String> = Vec::new();
    let mut options: Vec<(String, Option<String>)> = Vec::new();
    let set_option = |options: &mut Vec<(String, Option<String>)>, name: &str, value| match options
        .iter_mut()
        .find(|(n, _)| n == name)
    {
        Some(slot) => slot.1 = value,
        None => options.push((name.to_string(), value)),
    };
    if dns.policy != DnsPolicy::None {
        for line in host.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => nameservers.extend(words.next().map(str::to_string)),
                Some("search" | "domain") => searches.extend(words.map(str::to_string)),
                Some("options") => {
                    for option in words {
                        let (name, value) = match option.split_once(':') {
                            Some((n, v)) => (n, Some(v.to_string())),
                            None => (option, None),
                        };
                        set_option(&mut options, name, value);
                    }
                }
                _ => {}
            }
        }
    }
    for ns in &dns.nameservers {
        if !nameservers.contains(ns) {
            nameservers.push(ns.clone());
        }
    }
    for search in &dns.searches {
        if !searches.contains(search) {
            searches.push(search.clone());
        }
    }
    for (name, value) in &dns.options {
        set_option(&mut options, name, value.clone());
    }
    nameservers.truncate(3);
    searches.truncate(32);
    let mut out = String::new();
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !options.is_empty() {
        let options: Vec<String> = options
            .into_iter()
            .map(|(n, v)| match v {
                Some(v) => format!("{n}:{v}"),
                None => n,
            })
            .collect();
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Create the pod's shared files, `/dev/shm` and volumes; `/etc/hosts` maps
/// the pod's hostname to `pod_ip` (to 127.0.1.1 without a pod network).
pub fn prepare(pod: &PodSpec, paths: &PodPaths, pod_ip: Option<&str>) -> Result<(), PodError> {
    let etc = paths.etc();
    std::fs::create_dir_all(&etc).map_err(io("create", &etc))?;
    write(&etc.join("hosts"), &hosts_file(pod, pod_ip))?;
    write(&etc.join("hostname"), &format!("{}\n", pod.uts_hostname()))?;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(&etc.join("resolv.conf"), &resolv_conf(&host, &pod.dns))?;

    if !pod.host_ipc {
        let shm = paths.shm();
        std::fs::create_dir_all(&shm).map_err(io("create", &shm))?;
        mount(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=1777,size=64m"),
        )
        .map_err(|e| io("mount /dev/shm tmpfs at", &shm)(e.into()))?;
    }
    for volume in &pod.volumes {
        if let VolumeSource::EmptyDir { memory, size_limit } = &volume.source {
            let dir = paths.volume(&volume.name);
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            if *memory {
                let options = match size_limit {
                    Some(bytes) => format!("mode=0777,size={bytes}"),
                    None => "mode=0777".to_string(),
                };
                mount(
                    Some("tmpfs"),
                    &dir,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some(options.as_str()),
                )
                .map_err(|e| io("mount emptyDir tmpfs at", &dir)(e.into()))?;
            } else {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                    .map_err(io("chmod", &dir))?;
            }
            // fsGroup: the group owns the volume, and what is made in it (setgid).
            if let Some(group) = pod.fs_group {
                use std::os::unix::fs::PermissionsExt;
                std::os::unix::fs::chown(&dir, None, Some(group)).map_err(io("chown", &dir))?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o2777))
                    .map_err(io("chmod", &dir))?;
            }
        }
    }
    Ok(())
}

/// Create the folders a container's `subPath` mounts name inside their
/// volumes, as the kubelet does; in a hostPath volume only when the pod may
/// use host paths (else its spec is refused and nothing is made).
pub fn sub_paths(
    record: &PodRecord,
    paths: &PodPaths,
    container: &Container,
) -> Result<(), PodError> {
    for mount in &container.volume_mounts {
        let Some(sub) = &mount.sub_path else { continue };
        let Some(volume) = record.spec.volumes.iter().find(|v| v.name == mount.name) else {
            continue;
        };
        let base = match &volume.source {
            VolumeSource::EmptyDir { .. } => paths.volume(&volume.name),
            // Made by the volume's writer; a subPath of one is a file or folder it wrote.
            VolumeSource::Files { .. } => continue,
            VolumeSource::HostPath { path, .. } if record.options.allow_host_paths => {
                PathBuf::from(path)
            }
            VolumeSource::HostPath { .. } => continue,
        };
        sub_path_beneath(&base, sub)?;
    }
    Ok(())
}

/// Walk `sub` below `base` one part at a time, making missing folders, and
/// refuse a part that is a symbolic link: a container that can write the
/// volume could have planted one pointing anywhere on the host, and the
/// bind mount of the path would follow it (CVE-2017-1002101's class).
fn sub_path_beneath(base: &Path, sub: &str) -> Result<(), PodError> {
    let mut at = base.to_path_buf();
    for part in Path::new(sub).components() {
        let std::path::Component::Normal(part) = part else {
            return Err(refused(&at, "is not a plain relative path"));
        };
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(refused(
                    &at,
                    "is a symbolic link: a subPath may not follow one",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at).map_err(io("create subPath", &at))?;
            }
            Err(e) => return Err(io("read subPath", &at)(e)),
        }
    }
    Ok(())
}

/// A subPath refused for `why`.
fn refused(path: &Path, why: &str) -> PodError {
    io("use subPath", path)(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        why.to_string(),
    ))
}

/// Check (and make, for the `...OrCreate` types and no type) the host paths
/// a container mounts, as the kubelet does before it makes the container;
/// the error names the volume and the path.
pub fn host_paths(record: &PodRecord, container: &Container) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    if !record.options.allow_host_paths {
        return Ok(());
    }
    for mount in &container.volume_mounts {
        let Some(volume) = record.spec.volumes.iter().find(|v| v.name == mount.name) else {
            continue;
        };
        let VolumeSource::HostPath { path, kind } = &volume.source else {
            continue;
        };
        let failed = |why: String| {
            format!(
                "MountVolume.SetUp failed for volume {:?}: hostPath type check failed: {path} {why}",
                volume.name
            )
        };
        let meta = std::fs::metadata(path);
        let made = match (kind, &meta) {
            (HostPathType::Unset | HostPathType::DirectoryOrCreate, Err(_)) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| failed(format!("cannot be made: {e}")))?;
                if *kind == HostPathType::DirectoryOrCreate {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
                }
                continue;
            }
            (HostPathType::FileOrCreate, Err(_)) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|e| failed(format!("cannot be made: {e}")))?;
                continue;
            }
            (HostPathType::Unset, Ok(_)) => continue,
            (_, Err(_)) => return Err(failed("does not exist".into())),
            (kind, Ok(meta)) => (kind, meta.file_type()),
        };
        let (kind, file) = made;
        let fits = match kind {
            HostPathType::DirectoryOrCreate | HostPathType::Directory => file.is_dir(),
            HostPathType::FileOrCreate | HostPathType::File => file.is_file(),
            HostPathType::Socket => file.is_socket(),
            HostPathType::CharDevice => file.is_char_device(),
            HostPathType::BlockDevice => file.is_block_device(),
            HostPathType::Unset => true,
        };
        if !fits {
            return Err(failed(format!("is not a {kind}")));
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), PodError> {
    std::fs::write(path, text).map_err(io("write", path))
}

/// Bring `interface` up in this thread's network namespace.
pub(crate) fn set_up(interface: &str) -> std::io::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let socket = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain data; zeroed is a valid value.
    let mut request: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(interface.bytes()) {
        *slot = byte as nix::libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the named interface's flags into `request`, which outlives the call.
    if unsafe { nix::libc::ioctl(socket.as_raw_fd(), nix::libc::SIOCGIFFLAGS, &mut request) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the union member written by SIOCGIFFLAGS is `ifru_flags`.
    unsafe { request.ifr_ifru.ifru_flags |= nix::libc::IFF_UP as i16 };
    // SAFETY: SIOCSIFFLAGS reads `request`, which outlives the call.
    if unsafe { nix::libc::ioctl(socket.as_raw_fd(), nix::libc::SIOCSIFFLAGS, &request) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Every mount point at or below `dir`, deepest first.
pub fn mounts_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<std::path::PathBuf> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(unescape)
        .map(std::path::PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Undo everything of a pod but its containers: mounts below its folder, its
/// cgroups, and unless `keep_folder` its folder and its name. Safe to run
/// twice and after a crash. Returns the mounts still below the folder,
/// looked for again only when there were some to unmount (the mount table
/// holds a pin of every pod: each read prints them all).
pub fn teardown(paths: &PodPaths, namespace: &str, name: &str, keep_folder: bool) -> Vec<PathBuf> {
    let mounted = mounts_below(&paths.dir);
    for target in &mounted {
        if let Err(e) = umount2(target, MntFlags::MNT_DETACH) {
            tracing::warn!(path = %target.display(), error = %e, "unmount");
        }
    }
    crate::cgroups::remove_pod_cgroups(&paths.uid);
    if !keep_folder {
        remove_folder(paths, namespace, name);
    }
    if mounted.is_empty() {
        mounted
    } else {
        mounts_below(&paths.dir)
    }
}

/// Remove the pod's folder and free its name.
pub fn remove_folder(paths: &PodPaths, namespace: &str, name: &str) {
    let _ = std::fs::remove_dir_all(&paths.dir);
    crate::pod::release_name(&paths.root, namespace, name, &paths.uid);
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_file_in_the_kubelets_format() {
        let parsed = crate::spec::parse(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostAliases: [{ip: 10.1.2.3, hostnames: [foo.local, bar.local]}]\n  containers: [{name: c, image: busybox}]\n",
            crate::spec::Format::Yaml,
        )
        .unwrap();
        let hosts = super::hosts_file(&parsed[0].pod, Some("10.0.0.5"));
        assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(hosts.contains("fe00::2\tip6-allrouters\n10.0.0.5\tweb\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"), "{hosts}");
    }

    fn pod(spec: &str) -> crate::spec::PodSpec {
        crate::spec::parse(
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: shop}}\nspec:\n{spec}  containers: [{{name: c, image: busybox}}]\n"),
            crate::spec::Format::Yaml,
        )
        .unwrap()
        .remove(0)
        .pod
    }

    #[test]
    fn a_subdomain_gives_the_kubelets_fqdn() {
        let p = pod("  hostname: api\n  subdomain: backend\n  setHostnameAsFQDN: true\n");
        let hosts = super::hosts_file(&p, Some("10.0.0.5"));
        assert!(
            hosts.contains("10.0.0.5\tapi.backend.shop.svc.cluster.local\tapi\n"),
            "{hosts}"
        );
        assert_eq!(p.uts_hostname(), "api.backend.shop.svc.cluster.local");
        assert_eq!(pod("  hostname: api\n").uts_hostname(), "api");
    }

    #[test]
    fn resolv_conf_by_policy_and_config() {
        let host =
            "# made by the host\nnameserver 192.168.1.1\nsearch lan\noptions ndots:1 edns0\n";
        let default = pod("");
        assert_eq!(
            super::resolv_conf(host, &default.dns),
            "nameserver 192.168.1.1\nsearch lan\noptions ndots:1 edns0\n"
        );
        let merged = pod(
            "  dnsConfig:\n    nameservers: [1.1.1.1]\n    searches: [corp.example]\n    options: [{name: ndots, value: '5'}, {name: single-request}]\n",
        );
        assert_eq!(
            super::resolv_conf(host, &merged.dns),
            "nameserver 192.168.1.1\nnameserver 1.1.1.1\nsearch lan corp.example\noptions ndots:5 edns0 single-request\n"
        );
        let none = pod("  dnsPolicy: None\n  dnsConfig: {nameservers: [9.9.9.9]}\n");
        assert_eq!(super::resolv_conf(host, &none.dns), "nameserver 9.9.9.9\n");
        let refused = crate::spec::parse(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  dnsPolicy: None\n  containers: [{name: c, image: busybox}]\n",
            crate::spec::Format::Yaml,
        );
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("spec.dnsConfig.nameservers: required"),
        );
    }
}
