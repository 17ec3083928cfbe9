//! `podctl port-forward POD [LOCAL:]REMOTE...`: as kubectl's. Each local port
//! listens on `--address` (127.0.0.1); every connection it accepts is
//! dialled to 127.0.0.1:REMOTE inside the pod's network namespace (from a
//! thread that entered it) and the bytes are copied both ways.

use std::io::Write;
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::sys::signal::{SigSet, Signal};
use podcore::pod::{self, PodPaths};

/// `podctl port-forward` arguments.
#[derive(clap::Args)]
pub struct PortForwardArgs {
    name: String,
    /// [LOCAL:]REMOTE, one or more.
    #[arg(required = true, value_parser = parse_forward)]
    ports: Vec<Forward>,
    /// The local address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

/// `LOCAL:REMOTE` (or `PORT` for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub local: u16,
    pub remote: u16,
}

/// Parse `[LOCAL:]REMOTE`.
pub fn parse_forward(text: &str) -> Result<Forward, String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{p:?} is not a port number (1 to 65535)"))
    };
    match text.split_once(':') {
        Some((local, remote)) => Ok(Forward {
            local: port(local)?,
            remote: port(remote)?,
        }),
        None => {
            let p = port(text)?;
            Ok(Forward {
                local: p,
                remote: p,
            })
        }
    }
}

/// The network namespace of a pod: its pinned one, else pause's.
fn pod_netns(root: &Path, namespace: &str, name: &str) -> anyhow::Result<PathBuf> {
    let entry = pod::find(root, namespace, name)?;
    if let Some(pinned) = podcore::network::pinned_netns(root, &entry.uid) {
        return Ok(pinned);
    }
    let status = podcore::supervisor::observed_status(&PodPaths::new(root, &entry.uid));
    match status.and_then(|s| s.sandbox.pause_pid) {
        Some(pid) => Ok(PathBuf::from(format!("/proc/{pid}/ns/net"))),
        None => bail!("pod {name} has no running sandbox to forward to"),
    }
}

/// Forward until SIGINT or SIGTERM, then return (exit 0).
pub fn run(root: &Path, args: PortForwardArgs) -> anyhow::Result<()> {
    let (forwards, address) = (&args.ports, args.address);
    let netns = pod_netns(root, &args.namespace, &args.name)?;
    // Every thread made from here on inherits the mask: the signals wait for `wait` below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("block SIGINT and SIGTERM")?;
    for forward in forwards {
        let listener = TcpListener::bind((address, forward.local))
            .with_context(|| format!("listen on {address}:{}", forward.local))?;
        println!(
            "Forwarding from {address}:{} -> {}",
            forward.local, forward.remote
        );
        let netns = netns.clone();
        let remote = forward.remote;
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let netns = netns.clone();
                std::thread::spawn(move || {
                    if let Err(error) = relay(client, &netns, remote) {
                        eprintln!("port-forward to {remote}: {error}");
                    }
                });
            }
        });
    }
    let _ = std::io::stdout().flush();
    signals.wait().context("wait for Ctrl-C")?;
    Ok(())
}

/// Dial `remote` in the pod's namespace and copy both ways until both ends close.
fn relay(client: TcpStream, netns: &Path, remote: u16) -> std::io::Result<()> {
    let upstream =
        podcore::network::in_netns(netns, || TcpStream::connect(("127.0.0.1", remote)))??;
    let (mut client_read, mut upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    let to_pod = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = std::io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = to_pod.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_parse_as_kubectl_reads_them() {
        assert_eq!(
            parse_forward("8080").unwrap(),
            Forward {
                local: 8080,
                remote: 8080
            }
        );
        assert_eq!(
            parse_forward("9000:80").unwrap(),
            Forward {
                local: 9000,
                remote: 80
            }
        );
        assert!(parse_forward("0").is_err());
        assert!(parse_forward("x:80").is_err());
        assert!(parse_forward("70000").is_err());
    }
}
