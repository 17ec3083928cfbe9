//! The built-in network's interfaces, made by podctl itself over rtnetlink,
//! as podman's netavark does, rather than by the CNI `bridge` and `static`
//! plugins: the same bridge, veth pair, address and route, without running
//! two Go programs per pod (7 ms of every start, and as much of every
//! delete, on the machines measured; see docs/BENCHMARKS.md).
//!
//! Messages are built with `netlink-packet-route` and sent over a plain
//! `netlink-sys` socket, one request and its acknowledgement at a time. A
//! socket works in the network namespace it was opened in, so the pod's
//! side is configured through a socket opened there (see [`super::in_netns`]).

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind, InfoPortData,
    InfoPortKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

/// The interface every pod sees.
pub const POD_INTERFACE: &str = "eth0";

/// What the built-in network gave one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The host's end of the veth pair, a port of the bridge.
    pub host_veth: String,
    /// The pod's address on [`POD_INTERFACE`].
    pub ip: Ipv4Addr,
}

/// The host's end of the pod `uid`'s veth pair: `veth` and eleven hex
/// digits of the uid (a random UUID), within the kernel's 15 characters.
pub fn host_veth_name(uid: &str) -> String {
    let digits: String = uid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(11)
        .collect();
    format!("veth{digits}")
}

/// Give the pod whose network namespace is pinned at `netns` its interface:
/// make the bridge when it is missing (gateway address, up, forwarding
/// on), a veth pair whose pod end is made inside the namespace as `eth0`
/// and up, the host end a port of the bridge in hairpin mode, then the
/// pod's address and its default route through the gateway.
pub fn attach(
    netns: &Path,
    uid: &str,
    bridge: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
) -> io::Result<Link> {
    let mut host = Rtnl::open().map_err(step("open a netlink socket"))?;
    let bridge_index = host.ensure_bridge(bridge, gateway, prefix)?;
    let host_veth = host_veth_name(uid);
    let target = File::open(netns).map_err(step("open the pod's network namespace"))?;
    // Both ends are made down, IPv6 hushed on them, then brought up.
    let mut pair = LinkMessage::default();
    // The pod's end is brought up from inside: the kernel opens a new
    // peer before the pair is joined, and refuses (ENOTCONN).
    let mut peer = LinkMessage::default();
    peer.attributes
        .push(LinkAttribute::IfName(POD_INTERFACE.into()));
    peer.attributes
        .push(LinkAttribute::NetNsFd(target.as_raw_fd()));
    pair.attributes
        .push(LinkAttribute::IfName(host_veth.clone()));
    pair.attributes
        .push(LinkAttribute::Controller(bridge_index));
    pair.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    let make = |host: &mut Rtnl| {
        host.request(
            RouteNetlinkMessage::NewLink(pair.clone()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    };
    match make(&mut host) {
        // The name is the pod's: a pair of its network made before, whose
        // namespace the kernel has not finished tearing down (recover
        // remakes a broken network at once). It goes, and the pair is made.
        Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => host
            .delete_link(&host_veth)
            .and_then(|()| make(&mut host))
            .map(drop),
        made => made.map(drop),
    }
    .map_err(step("make the veth pair"))?;
    let link = Link { host_veth, ip };
    let configured = (|| {
        let host_index =
            index_in_own_netns(&link.host_veth).map_err(step("find the veth's host end"))?;
        host.hush_ipv6(host_index).map_err(step(
            "turn off IPv6 address generation on the veth's host end",
        ))?;
        host.set_up(host_index)
            .map_err(step("bring the veth's host end up"))?;
        let mut hairpin = LinkMessage::default();
        hairpin
            .attributes
            .push(LinkAttribute::IfName(link.host_veth.clone()));
        hairpin.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        host.request(RouteNetlinkMessage::NewLink(hairpin), 0)
            .map_err(step("set hairpin mode on the bridge port"))?;
        let mut pod = super::in_netns(netns, Rtnl::open)
            .and_then(|socket| socket)
            .map_err(step("open a netlink socket in the pod's network namespace"))?;
        let index = pod
            .index_of(POD_INTERFACE)
            .map_err(step("find the pod's eth0"))?;
        pod.hush_ipv6(index)
            .map_err(step("turn off IPv6 address generation on eth0"))?;
        pod.set_up(index).map_err(step("bring eth0 up"))?;
        pod.add_address(index, ip, prefix)
            .map_err(step("give eth0 the pod's address"))?;
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        route.attributes.push(RouteAttribute::Oif(index));
        pod.request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(step("route the pod's traffic through the gateway"))
    })();
    if let Err(error) = configured {
        // The pair goes as one: deleting the host's end takes the pod's.
        let _ = host.delete_link(&link.host_veth);
        return Err(error);
    }
    Ok(link)
}

/// The index of an interface of the calling thread's network namespace, by
/// its name (an ioctl). A bridge's RTM_GETLINK answer carries all its
/// settings, which the netlink crate parses into text: 0.5 ms of every start.
fn index_in_own_netns(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

/// Whether the pod's interface is as [`attach`] left it: the host's end a
/// port of `bridge`, the pod's `eth0` carrying `ip`. Says what is amiss.
pub fn check(netns: &Path, bridge: &str, link: &Link) -> Result<(), String> {
    let mut host = Rtnl::open().map_err(|e| e.to_string())?;
    let bridge_index = index_in_own_netns(bridge).map_err(|e| format!("bridge {bridge}: {e}"))?;
    let port = host
        .get_link(&link.host_veth)
        .map_err(|e| format!("veth {}: {e}", link.host_veth))?;
    let controller = port.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(index) => Some(*index),
        _ => None,
    });
    if controller != Some(bridge_index) {
        return Err(format!("veth {} is not a port of {bridge}", link.host_veth));
    }
    let mut pod = super::in_netns(netns, Rtnl::open)
        .and_then(|socket| socket)
        .map_err(|e| format!("the pod's network namespace: {e}"))?;
    let index = pod
        .index_of(POD_INTERFACE)
        .map_err(|e| format!("the pod's {POD_INTERFACE}: {e}"))?;
    if !pod.has_address(index, link.ip).map_err(|e| e.to_string())? {
        return Err(format!("the pod's {POD_INTERFACE} lost {}", link.ip));
    }
    Ok(())
}

/// Delete the host's end of a veth pair made by [`attach`] (the pod's end
/// goes with it), for a setup that fails after making it.
pub fn detach(host_veth: &str) -> io::Result<()> {
    Rtnl::open()?.delete_link(host_veth)
}

fn step(what: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |error| io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// The main routing table (`RT_TABLE_MAIN`).
const RT_TABLE_MAIN: u8 = 254;

/// An rtnetlink socket of the namespace it was opened in.
struct Rtnl {
    socket: Socket,
    sequence: u32,
}

impl Rtnl {
    fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Self {
            socket,
            sequence: 0,
        })
    }

    /// Send one request with `flags` (beside REQUEST and ACK) and wait for
    /// its answer: the messages the kernel sends back (for a GET or a
    /// dump), until the acknowledgement or the dump's end.
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.sequence += 1;
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | flags;
        if flags & NLM_F_DUMP != NLM_F_DUMP {
            request.header.flags |= NLM_F_ACK;
        }
        request.header.sequence_number = self.sequence;
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;
        let mut answers = Vec::new();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            let received = self.socket.recv(&mut &mut buffer[..], 0)?;
            let mut offset = 0;
            while offset < received {
                let message =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buffer[offset..received])
                        .map_err(|e| io::Error::other(format!("an unreadable answer: {e}")))?;
                let length = message.header.length as usize;
                if message.header.sequence_number == self.sequence {
                    match message.payload {
                        NetlinkPayload::Error(error) => {
                            return match error.code {
                                None => Ok(answers),
                                Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            };
                        }
                        NetlinkPayload::Done(_) => return Ok(answers),
                        NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                        _ => {}
                    }
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }

    fn get_link(&mut self, name: &str) -> io::Result<LinkMessage> {
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(RouteNetlinkMessage::GetLink(message), 0)?
            .into_iter()
            .find_map(|answer| match answer {
                RouteNetlinkMessage::NewLink(link) => Some(link),
                _ => None,
            })
            .ok_or_else(|| io::Error::from_raw_os_error(nix::libc::ENODEV))
    }

    /// An interface's index by its name (RTM_GETLINK): for an interface in
    /// another namespace than the caller's, through a socket opened there.
    fn index_of(&mut self, name: &str) -> io::Result<u32> {
        Ok(self.get_link(name)?.header.index)
    }

    fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(RouteNetlinkMessage::DelLink(message), 0)
            .map(drop)
    }

    /// The bridge's index; made first when missing (a second pod racing to
    /// make it finds it made).
    fn ensure_bridge(&mut self, name: &str, gateway: Ipv4Addr, prefix: u8) -> io::Result<u32> {
        if let Ok(index) = index_in_own_netns(name) {
            return Ok(index);
        }
        let mut bridge = LinkMessage::default();
        bridge.attributes.push(LinkAttribute::IfName(name.into()));
        // A MAC of its own: a bridge without one takes its lowest port's,
        // and changes it as pods come and go, under the pods' ARP caches.
        let mut mac = *uuid::Uuid::new_v4().as_bytes();
        mac[0] = (mac[0] & 0xfe) | 0x02;
        bridge
            .attributes
            .push(LinkAttribute::Address(mac[..6].to_vec()));
        bridge
            .attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.request(
            RouteNetlinkMessage::NewLink(bridge),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => {}
            Err(e) => return Err(step("make the bridge")(e)),
        }
        let index = index_in_own_netns(name).map_err(step("find the bridge"))?;
        match self.add_address(index, gateway, prefix) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => {}
            Err(e) => return Err(step("give the bridge the gateway address")(e)),
        }
        self.set_up(index).map_err(step("bring the bridge up"))?;
        // The gateway forwards the pods' traffic, as the bridge plugin's
        // isGateway turns on.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(step("turn on net.ipv4.ip_forward"))?;
        Ok(index)
    }

    /// No IPv6 link-local address on this interface, so none of what comes
    /// with one: duplicate address detection, router solicitations, MLD
    /// reports. The built-in network is IPv4 only; on a bridge each such
    /// multicast packet is flooded to every port and handled in every
    /// pod's namespace, work that grows with the number of pods for every
    /// pod started (a fifth of the CPU while pods start at 900 pods). Without
    /// IPv6 in the kernel there is nothing to turn off.
    fn hush_ipv6(&mut self, index: u32) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        message
            .attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        match self.request(RouteNetlinkMessage::SetLink(message), 0) {
            Err(e) if e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT) => Ok(()),
            other => other.map(drop),
        }
    }

    fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut up = LinkMessage::default();
        up.header.index = index;
        up.header.flags = LinkFlags::Up;
        up.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(up), 0).map(drop)
    }

    fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(ip) | host_bits);
        message
            .attributes
            .push(AddressAttribute::Local(IpAddr::V4(ip)));
        message
            .attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        message
            .attributes
            .push(AddressAttribute::Broadcast(broadcast));
        self.request(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    fn has_address(&mut self, index: u32, ip: Ipv4Addr) -> io::Result<bool> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        let answers = self.request(RouteNetlinkMessage::GetAddress(message), NLM_F_DUMP)?;
        Ok(answers.iter().any(|answer| match answer {
            RouteNetlinkMessage::NewAddress(address) => {
                address.header.index == index
                    && address
                        .attributes
                        .contains(&AddressAttribute::Local(IpAddr::V4(ip)))
            }
            _ => false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_fit_the_kernel_and_differ_by_uid() {
        let a = host_veth_name("0c5b2a8e-91f3-4d1e-a0b7-3f2c9d8e7a61");
        let b = host_veth_name("7d1e0f2a-5b6c-4d3e-8f9a-0b1c2d3e4f5a");
        assert_eq!(a, "veth0c5b2a8e91f");
        assert!(a.len() <= 15 && b.len() <= 15);
        assert_ne!(a, b);
    }
}
