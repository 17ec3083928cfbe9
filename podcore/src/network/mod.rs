//! The pod's network, the way containerd and CRI-O make it: the pod's
//! network namespace, pinned before any container (see [`crate::namespaces`]),
//! given an interface and an IP by a chain of CNI plugins, and torn down
//! again (CNI DEL, unpin) when the pod is deleted. Its containers join the
//! namespace by its path, so it outlives a pause crash and the pod keeps its IP.
//!
//! The CNI chain is the first `*.conflist` of the CNI config folder
//! (`/etc/cni/net.d` by default). Without one, the pod gets the built-in
//! network, made by podctl itself as podman's netavark does ([`bridge`]): a
//! bridge (`podctl0`, gateway, masquerade for traffic leaving the host), a
//! veth pair, an address from [`DEFAULT_SUBNET`] given out by podctl
//! ([`ipam`]); CNI's `portmap` publishes its hostPorts.

pub mod bridge;
pub mod cni;
pub mod ipam;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::pod::{PodPaths, PodRecord};

pub use cni::{CniError, Conflist, PortMapping};

/// The pods' subnet of the built-in network: beside podman's 10.88.0.0/16.
pub const DEFAULT_SUBNET: &str = "10.86.0.0/16";
/// The bridge of the built-in network.
pub const DEFAULT_BRIDGE: &str = "podctl0";
/// Where CNI network configs are looked for, as containerd and CRI-O do.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";
/// Where CNI plugins are looked for: Debian's folder, then the usual one.
pub const DEFAULT_BIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// Why the pod's network could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Cni(#[from] CniError),
    #[error(transparent)]
    Io(#[from] crate::pod::PodError),
    #[error("built-in network {DEFAULT_BRIDGE}: {0}")]
    Bridge(std::io::Error),
}

use crate::pod::io;

/// Where CNI configs and plugins are found (`--cni-conf-dir`, `--cni-bin-dir`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CniPaths {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
}

impl Default for CniPaths {
    fn default() -> Self {
        Self {
            conf_dir: DEFAULT_CONF_DIR.into(),
            bin_dirs: DEFAULT_BIN_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// What the pod got from its network, kept in its folder (`network.json`):
/// for its status and `/etc/hosts`, and to delete it with the same config
/// and result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// The CNI chain run for it: the config folder's, or for the built-in
    /// network `portmap` alone when the pod publishes hostPorts.
    pub conflist: Option<Conflist>,
    /// Whether podctl made the interface itself (the built-in network).
    #[serde(default)]
    pub built_in: bool,
    pub runtime: cni::Runtime,
    /// The final ADD result (for the built-in network, the result the
    /// bridge plugin would give, handed to `portmap` as its `prevResult`).
    pub result: serde_json::Value,
    /// The pod's addresses, IPv4 first.
    pub ips: Vec<String>,
}

impl Attachment {
    /// The pod's IP (`status.podIP`).
    pub fn pod_ip(&self) -> Option<&str> {
        self.ips.first().map(String::as_str)
    }

    /// The built-in network's interface, as [`bridge::attach`] made it.
    fn link(&self) -> Option<bridge::Link> {
        let host_veth = self.result["interfaces"][1]["name"].as_str()?.to_string();
        let ip = self.pod_ip()?.parse().ok()?;
        Some(bridge::Link { host_veth, ip })
    }
}

use crate::namespaces::Shared;

/// The pinned network namespace of the pod `uid`.
pub fn netns_path(root: &Path, uid: &str) -> PathBuf {
    crate::namespaces::path(root, uid, Shared::Net)
}

/// The pod's pinned network namespace, when it is pinned and visible from
/// this mount namespace.
pub fn pinned_netns(root: &Path, uid: &str) -> Option<PathBuf> {
    crate::namespaces::pinned(root, uid, Shared::Net)
}

fn attachment_path(paths: &PodPaths) -> PathBuf {
    paths.network()
}

/// The pod's attachment, when it has one.
pub fn attachment(paths: &PodPaths) -> Option<Attachment> {
    crate::pod::read_json(&attachment_path(paths)).ok()
}

/// The `source` of the built-in network's config.
const BUILT_IN: &str = "built-in";

/// The CNI chain of the built-in network, for a pod that publishes
/// hostPorts: `portmap`, handed the interface [`bridge::attach`] made as
/// its `prevResult`. No per-pod masquerade (see [`masquerade_subnet`]).
pub fn ports_conflist() -> Conflist {
    let value = json!({"cniVersion": "1.0.0", "name": "podctl", "plugins": [
        {"type": "portmap", "capabilities": {"portMappings": true}},
    ]});
    Conflist::new(BUILT_IN.into(), value).expect("the built-in network is valid")
}

/// The result the CNI bridge plugin gives for `link`, so that `portmap`,
/// the pod's status and `/etc/hosts` read the built-in network's as any.
fn built_in_result(link: &bridge::Link, netns: &Path) -> serde_json::Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": DEFAULT_BRIDGE},
            {"name": link.host_veth},
            {"name": bridge::POD_INTERFACE, "sandbox": netns},
        ],
        "ips": [{
            "address": format!("{}/{}", link.ip, ipam::PREFIX),
            "gateway": ipam::GATEWAY.to_string(),
            "interface": 2,
        }],
        "routes": [{"dst": "0.0.0.0/0", "gw": ipam::GATEWAY.to_string()}],
    })
}

/// The built-in network's one masquerade rule: traffic from the pods'
/// subnet to anywhere else leaves with the host's address. The bridge
/// plugin's `ipMasq` would add a chain and rules per pod (five iptables
/// runs to add, more to delete, each slower as rules pile up); one rule for
/// the subnet, added once and left in place like the bridge, does the same.
fn masquerade_subnet() -> Result<(), NetworkError> {
    let rule = [
        "POSTROUTING",
        "-s",
        DEFAULT_SUBNET,
        "!",
        "-d",
        DEFAULT_SUBNET,
        "-m",
        "comment",
        "--comment",
        "podctl pod network",
        "-j",
        "MASQUERADE",
    ];
    let iptables = |action: &str| {
        std::process::Command::new("iptables")
            .args(["-w", "-t", "nat", action])
            .args(rule)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
    };
    let present = iptables("-C").is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    let added =
        iptables("-A").map_err(io("run iptables to masquerade", Path::new(DEFAULT_SUBNET)))?;
    if !added.status.success() {
        let refused =
            std::io::Error::other(String::from_utf8_lossy(&added.stderr).trim().to_string());
        let subnet = Path::new(DEFAULT_SUBNET);
        return Err(io("masquerade the pods' subnet", subnet)(refused).into());
    }
    Ok(())
}

/// The hostPorts of a pod as portmap wants them.
pub fn port_mappings(record: &PodRecord) -> Vec<PortMapping> {
    record
        .spec
        .all_containers()
        .flat_map(|c| &c.ports)
        .filter_map(|p| {
            Some(PortMapping {
                host_port: p.host_port?,
                container_port: p.container_port,
                protocol: p.protocol.to_lowercase(),
                host_ip: p.host_ip.clone(),
            })
        })
        .collect()
}

/// Make the pod's network in its pinned network namespace: the built-in
/// network's interface, or the CNI chain's ADD; keep the attachment in the
/// pod's folder. Nothing is left of it on failure (the pin is the caller's).
pub fn setup(root: &Path, record: &PodRecord, cni: &CniPaths) -> Result<Attachment, NetworkError> {
    let mappings = port_mappings(record);
    let netns = netns_path(root, &record.uid);
    let configured = Conflist::first_in(&cni.conf_dir)?;
    let built_in = configured.is_none();
    let mut address = None;
    let mut made = None;
    if built_in {
        // The rule goes with the bridge: made with it, for the first pod.
        if nix::net::if_::if_nametoindex(DEFAULT_BRIDGE).is_err() {
            masquerade_subnet()?;
        }
        let ip = ipam::allocate(root, &record.uid)?;
        address = Some(ip);
        let started = std::time::Instant::now();
        let link = bridge::attach(
            &netns,
            &record.uid,
            DEFAULT_BRIDGE,
            ip,
            ipam::PREFIX,
            ipam::GATEWAY,
        );
        tracing::debug!(
            "step built-in network interface: {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        match link {
            Ok(link) => made = Some(built_in_result(&link, &netns)),
            Err(error) => {
                ipam::release(root, &record.uid, &ip.to_string());
                return Err(NetworkError::Bridge(error));
            }
        }
    }
    let list = match configured {
        Some(list) => Some(list),
        None => (!mappings.is_empty()).then(ports_conflist),
    };
    let give_back = || {
        if let Some(ip) = address {
            // The interface goes with the namespace; the address comes back.
            if let Some(link) = made
                .as_ref()
                .and_then(|r| r["interfaces"][1]["name"].as_str())
            {
                let _ = bridge::detach(link);
            }
            ipam::release(root, &record.uid, &ip.to_string());
        }
    };
    let runtime = cni::Runtime {
        container_id: record.uid.clone(),
        netns: netns.clone(),
        ifname: "eth0".into(),
        bin_dirs: cni.bin_dirs.clone(),
        args: format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_UID={}",
            record.spec.namespace, record.spec.name, record.uid
        ),
        port_mappings: mappings,
    };
    let result = match &list {
        Some(list) => match cni::add(list, &runtime, made.clone()) {
            Ok(result) => result,
            Err(error) => {
                give_back();
                return Err(error.into());
            }
        },
        None => made.clone().unwrap_or_default(),
    };
    let mut ips = cni::addresses(&result);
    ips.sort_by_key(|ip| ip.contains(':'));
    let attachment = Attachment {
        conflist: list,
        built_in,
        runtime,
        result,
        ips,
    };
    let paths = PodPaths::new(root, &record.uid);
    if let Err(error) = crate::pod::write_json(&attachment_path(&paths), &attachment) {
        if let Some(list) = &attachment.conflist {
            let _ = cni::del(list, &attachment.runtime, Some(&attachment.result));
        }
        give_back();
        return Err(error.into());
    }
    Ok(attachment)
}

/// Make sure a pod that is recovered still has its network: CNI CHECK of
/// the kept attachment; when that fails (an interface or rule removed by
/// hand, the namespace gone), DEL it and ADD it anew. Returns whether the
/// network was made anew.
pub fn ensure(root: &Path, record: &PodRecord) -> Result<bool, NetworkError> {
    if record.spec.host_network {
        return Ok(false);
    }
    let paths = PodPaths::new(root, &record.uid);
    if let Some(a) = attachment(&paths)
        && pinned_netns(root, &record.uid).is_some()
    {
        let checked = match a
            .built_in
            .then(|| built_in_problem(root, &record.uid, &a))
            .flatten()
        {
            Some(detail) => Err(CniError::Config {
                source_file: BUILT_IN.into(),
                detail,
            }),
            None => a
                .conflist
                .as_ref()
                .map_or(Ok(()), |list| cni::check(list, &a.runtime, &a.result)),
        };
        match checked {
            Ok(()) => return Ok(false),
            Err(error) => {
                tracing::warn!(%error, "the pod's network failed its check: making it anew")
            }
        }
    }
    let _ = teardown(root, &record.uid);
    crate::namespaces::pin(root, &record.uid, &record.spec, &[Shared::Net])?;
    setup(root, record, &record.options.cni)?;
    Ok(true)
}

/// What is amiss with the built-in network of pod `uid`, if anything: its
/// address no longer reserved for it (podctl's to keep), or its interface
/// not as [`bridge::attach`] made it.
fn built_in_problem(root: &Path, uid: &str, a: &Attachment) -> Option<String> {
    if !a.pod_ip().is_some_and(|ip| ipam::holds(root, uid, ip)) {
        return Some("the pod's address is no longer reserved for it".into());
    }
    let Some(link) = a.link() else {
        return Some("its interface is not recorded".into());
    };
    bridge::check(&netns_path(root, uid), DEFAULT_BRIDGE, &link).err()
}

/// Undo the pod's network: CNI DEL with the config and result of its ADD
/// (also when the namespace or the pod's processes are gone), then unpin
/// the namespace. Returns the DEL error, if any, after unpinning.
pub fn teardown(root: &Path, uid: &str) -> Result<(), CniError> {
    let paths = PodPaths::new(root, uid);
    let attachment = attachment(&paths);
    // The built-in network needs nothing inside the namespace: the
    // namespace goes first, and takes the pod's end of the veth pair (and
    // with it the host's end) with it, in the kernel's own time; deleting
    // the interface and waiting for the kernel to let go of it would be the
    // larger part of a delete. Its `portmap` needs only the result. Any
    // other chain gets the namespace, as the CNI spec has it.
    if attachment.as_ref().is_none_or(|a| a.built_in) {
        crate::namespaces::unpin(root, uid, &[Shared::Net]);
    }
    let result = match &attachment {
        Some(Attachment {
            conflist: Some(list),
            runtime,
            result,
            ..
        }) => cni::del(list, runtime, Some(result)),
        _ => Ok(()),
    };
    if let Some(a) = attachment.as_ref().filter(|a| a.built_in)
        && result.is_ok()
    {
        for ip in &a.ips {
            ipam::release(root, uid, ip);
        }
    }
    crate::namespaces::unpin(root, uid, &[Shared::Net]);
    if result.is_ok() {
        let _ = std::fs::remove_file(attachment_path(&paths));
    }
    result
}

/// A pod of the root that already publishes one of `record`'s hostPorts:
/// `(field path, port/protocol, namespace/name)` of the first clash.
pub fn host_port_clash(root: &Path, record: &PodRecord) -> Option<(String, String, String)> {
    let wanted: Vec<(String, &crate::spec::ContainerPort)> = [
        ("initContainers", &record.spec.init_containers),
        ("containers", &record.spec.containers),
    ]
    .into_iter()
    .flat_map(|(field, list)| {
        list.iter().enumerate().flat_map(move |(i, c)| {
            c.ports
                .iter()
                .enumerate()
                .filter(|(_, p)| p.host_port.is_some())
                .map(move |(j, p)| (format!("spec.{field}[{i}].ports[{j}].hostPort"), p))
        })
    })
    .collect();
    if wanted.is_empty() {
        return None;
    }
    for entry in crate::pod::list(root) {
        if entry.uid == record.uid {
            continue;
        }
        let Ok(other) =
            crate::pod::read_json::<PodRecord>(&PodPaths::new(root, &entry.uid).record())
        else {
            continue;
        };
        for theirs in other.spec.all_containers().flat_map(|c| &c.ports) {
            for (field, mine) in &wanted {
                let same_ip = match (&mine.host_ip, &theirs.host_ip) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                if theirs.host_port == mine.host_port && theirs.protocol == mine.protocol && same_ip
                {
                    return Some((
                        field.clone(),
                        format!("{}/{}", mine.host_port.unwrap_or(0), mine.protocol),
                        format!("{}/{}", entry.namespace, entry.name),
                    ));
                }
            }
        }
    }
    None
}

/// Run `f` with this thread in the network namespace at `netns`, then come
/// back. What `f` opens (sockets) stays in that namespace.
pub fn in_netns<T>(netns: &Path, f: impl FnOnce() -> T) -> std::io::Result<T> {
    use nix::sched::{CloneFlags, setns};
    let own = File::open("/proc/thread-self/ns/net")?;
    let target = File::open(netns)?;
    setns(target.as_fd(), CloneFlags::CLONE_NEWNET)?;
    let value = f();
    setns(own.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(value)
}

/// The node's address (`status.hostIP`): the first global IPv4 address of
/// an interface that is up, not a loopback and not a pod bridge.
///
/// Read with `SIOCGIFCONF`, which lists only the interfaces that have an
/// IPv4 address, rather than `getifaddrs`, which dumps every link: with a
/// thousand pods the host has a thousand veths and that dump alone took
/// several milliseconds of every pod's start.
pub fn host_ip() -> Option<String> {
    use nix::libc;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    use std::os::fd::AsRawFd;
    let socket = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    // Room for 64 addressed interfaces; hosts have a handful.
    // SAFETY: `ifreq` is plain data; zeroed is a valid value.
    let mut requests: Vec<libc::ifreq> = vec![unsafe { std::mem::zeroed() }; 64];
    // SAFETY: `ifconf` is plain data; zeroed is a valid value.
    let mut conf: libc::ifconf = unsafe { std::mem::zeroed() };
    conf.ifc_len = (requests.len() * std::mem::size_of::<libc::ifreq>()) as libc::c_int;
    conf.ifc_ifcu.ifcu_req = requests.as_mut_ptr();
    // SAFETY: SIOCGIFCONF writes at most `ifc_len` bytes of `ifreq`s into
    // `requests`, which outlives the call, and sets `ifc_len` to what it wrote.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFCONF, &mut conf) } < 0 {
        return None;
    }
    let count = conf.ifc_len as usize / std::mem::size_of::<libc::ifreq>();
    requests.truncate(count.min(64));
    requests.into_iter().find_map(|mut request| {
        let name: String = request
            .ifr_name
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8 as char)
            .collect();
        // SAFETY: SIOCGIFCONF filled `ifru_addr` with an AF_INET address.
        let address = unsafe { request.ifr_ifru.ifru_addr };
        if i32::from(address.sa_family) != libc::AF_INET {
            return None;
        }
        // SAFETY: an AF_INET `sockaddr` is a `sockaddr_in`, of the same size.
        let address: libc::sockaddr_in = unsafe { std::mem::transmute(address) };
        let ip = std::net::Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr));
        // SAFETY: SIOCGIFFLAGS reads the named interface's flags into
        // `request`, which outlives the call.
        if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
            return None;
        }
        // SAFETY: the union member written by SIOCGIFFLAGS is `ifru_flags`.
        let flags = i32::from(unsafe { request.ifr_ifru.ifru_flags });
        let up = flags & libc::IFF_UP != 0 && flags & libc::IFF_LOOPBACK == 0;
        let ours = name == DEFAULT_BRIDGE || name.starts_with("veth");
        (up && !ours && !ip.is_link_local() && !ip.is_loopback()).then(|| ip.to_string())
    })
}

#[cfg(test)]
mod tests {
    /// `host_ip` (SIOCGIFCONF) finds what `getifaddrs` finds by the same rule.
    #[test]
    fn host_ip_is_the_first_global_address_of_an_interface_that_is_up() {
        use nix::net::if_::InterfaceFlags;
        let expected = nix::ifaddrs::getifaddrs().unwrap().find_map(|ifa| {
            let up = ifa.flags.contains(InterfaceFlags::IFF_UP)
                && !ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK);
            let ours = ifa.interface_name == super::DEFAULT_BRIDGE
                || ifa.interface_name.starts_with("veth");
            let address = ifa.address?.as_sockaddr_in()?.ip();
            (up && !ours && !address.is_link_local()).then(|| address.to_string())
        });
        assert_eq!(super::host_ip(), expected);
    }
}
