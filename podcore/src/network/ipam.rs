//! The built-in network's addresses, given out by podctl itself and handed
//! to CNI's `static` IPAM plugin.
//!
//! `host-local` (what the built-in network used before) reads every
//! address file of the network on each ADD and DEL, to find the
//! container's own: with a thousand pods that was most of a pod's start and
//! delete. podctl knows which pod it is adding, so it keeps host-local's
//! layout (`<root>/cni/networks/podctl/<ip>` holding the pod's uid, and
//! `last_reserved_ip.0`) but finds an address in one step: the one after the
//! last taken, claimed with `O_EXCL` so two runs cannot take the same.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::pod::{PodError, io};

/// The network's first address, the bridge's (the pods' gateway).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 86, 0, 1);
/// The network's prefix length ([`super::DEFAULT_SUBNET`]).
pub const PREFIX: u8 = 16;

/// The folder of the built-in network's addresses under `root`.
pub fn dir(root: &Path) -> PathBuf {
    root.join("cni/networks/podctl")
}

/// The addresses pods may get: the subnet but its network address, the
/// gateway and the broadcast address.
fn range() -> (u32, u32) {
    let network = u32::from(GATEWAY) & !(u32::MAX >> PREFIX);
    let broadcast = network | (u32::MAX >> PREFIX);
    (u32::from(GATEWAY) + 1, broadcast - 1)
}

/// Take an address for pod `uid`: the first free one after the last taken.
pub fn allocate(root: &Path, uid: &str) -> Result<Ipv4Addr, PodError> {
    let dir = dir(root);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let last_file = dir.join("last_reserved_ip.0");
    let (first, last) = range();
    let after = std::fs::read_to_string(&last_file)
        .ok()
        .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .filter(|ip| (first..=last).contains(ip))
        .unwrap_or(last);
    let size = last - first + 1;
    for step in 1..=size {
        let ip = Ipv4Addr::from(first + (after - first + step) % size);
        let file = dir.join(ip.to_string());
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut claimed) => {
                claimed
                    .write_all(format!("{uid}\neth0").as_bytes())
                    .map_err(io("write", &file))?;
                // Only where the next search starts: losing it costs nothing.
                let _ = std::fs::write(&last_file, ip.to_string());
                return Ok(ip);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("claim", &file)(e)),
        }
    }
    Err(io("take an address in", &dir)(std::io::Error::other(
        "every address of the built-in network 10.86.0.0/16 is taken: delete pods",
    )))
}

/// Whether `ip` is taken by pod `uid`.
pub fn holds(root: &Path, uid: &str, ip: &str) -> bool {
    std::fs::read_to_string(dir(root).join(ip)).is_ok_and(|held| held.lines().next() == Some(uid))
}

/// Give back pod `uid`'s address `ip` (not when another pod holds it).
pub fn release(root: &Path, uid: &str, ip: &str) {
    if holds(root, uid, ip) {
        let _ = std::fs::remove_file(dir(root).join(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_taken_in_turn_skipping_held_ones_and_given_back() {
        let root = tempfile::tempdir().unwrap();
        let a = allocate(root.path(), "a").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 86, 0, 2));
        // One held by hand (or by a run beside this one) is passed over.
        std::fs::write(dir(root.path()).join("10.86.0.3"), "x\neth0").unwrap();
        let b = allocate(root.path(), "b").unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 86, 0, 4));
        assert!(holds(root.path(), "b", "10.86.0.4"));
        release(root.path(), "a", "10.86.0.4");
        assert!(holds(root.path(), "b", "10.86.0.4"), "not a's to give back");
        release(root.path(), "a", "10.86.0.2");
        assert!(!dir(root.path()).join("10.86.0.2").exists());
        // After the last address comes the first free one again.
        std::fs::write(dir(root.path()).join("last_reserved_ip.0"), "10.86.255.254").unwrap();
        assert_eq!(
            allocate(root.path(), "c").unwrap(),
            Ipv4Addr::new(10, 86, 0, 2)
        );
    }
}
