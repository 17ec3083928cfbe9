//! `podctl internal grpc-probe`: one call of the gRPC health checking
//! protocol (`grpc.health.v1.Health/Check`) on the pod's loopback, for a
//! probe of type `grpc`. Exit 0 when the service is SERVING. The protocol's
//! two messages hold one field each, so they are encoded here by hand
//! rather than with a protobuf code generator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;

/// `grpc-probe` arguments.
#[derive(clap::Args)]
pub struct GrpcProbeArgs {
    /// The network namespace to call in (`/proc/PID/ns/net` of the pod's pause).
    #[arg(long)]
    netns: PathBuf,
    #[arg(long)]
    port: u16,
    /// The service asked about ("": the server as a whole).
    #[arg(long, default_value = "")]
    service: String,
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

/// `HealthCheckResponse.status`: SERVING.
const SERVING: u64 = 1;

pub fn run(args: GrpcProbeArgs) -> anyhow::Result<()> {
    // Enter the pod's network before any thread exists.
    let netns = std::fs::File::open(&args.netns)
        .with_context(|| format!("open {}", args.netns.display()))?;
    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
        .context("enter the pod's network namespace")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let status = runtime
        .block_on(async { tokio::time::timeout(timeout, check(args.port, &args.service)).await })
        .map_err(|_| anyhow::anyhow!("no answer within {timeout:?}"))??;
    if status != SERVING {
        bail!(
            "service {:?} is not serving (status {status})",
            args.service
        );
    }
    Ok(())
}

/// Call Check and return the status it answers.
async fn check(port: u16, service: &str) -> anyhow::Result<u64> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connect to port {port}"))?;
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .context("HTTP/2 handshake")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.context("HTTP/2 connection")?;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://127.0.0.1:{port}/grpc.health.v1.Health/Check"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .context("build the request")?;
    let (response, mut send) = client
        .send_request(request, false)
        .context("send the request")?;
    send.send_data(frame(&request_message(service)), true)
        .context("send the request's message")?;
    let response = response.await.context("read the answer")?;
    let mut grpc_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.context("read the answer's message")?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body
        .trailers()
        .await
        .context("read the answer's trailers")?;
    if let Some(v) = trailers.as_ref().and_then(|t| t.get("grpc-status")) {
        grpc_status = Some(v.to_str().unwrap_or("?").to_string());
    }
    match grpc_status.as_deref() {
        Some("0") => {}
        other => bail!("the call failed: grpc-status {other:?}"),
    }
    // One length-prefixed message: a flag byte, 4 length bytes, the message.
    let message = data.get(5..).context("an empty answer")?;
    Ok(status_field(message))
}

/// `HealthCheckRequest { service }`: field 1, a string.
fn request_message(service: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !service.is_empty() {
        out.push(0x0a);
        varint(service.len() as u64, &mut out);
        out.extend_from_slice(service.as_bytes());
    }
    out
}

/// gRPC's framing: not compressed, the length, the message.
fn frame(message: &[u8]) -> Bytes {
    let mut out = vec![0u8];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `HealthCheckResponse.status` (field 1, a varint); 0 (UNKNOWN) when absent.
fn status_field(message: &[u8]) -> u64 {
    let mut i = 0;
    while i < message.len() {
        let key = message[i];
        i += 1;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let mut value = 0u64;
                let mut shift = 0;
                while i < message.len() {
                    let b = message[i];
                    i += 1;
                    value |= u64::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                if field == 1 {
                    return value;
                }
            }
            2 => {
                let len = message.get(i).copied().unwrap_or(0) as usize;
                i += 1 + len;
            }
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_in_protobuf() {
        assert_eq!(request_message(""), Vec::<u8>::new());
        assert_eq!(request_message("db"), [0x0a, 2, b'd', b'b']);
        assert_eq!(&frame(&[0x0a, 1, b'x'])[..], [0, 0, 0, 0, 3, 0x0a, 1, b'x']);
        assert_eq!(status_field(&[0x08, 1]), SERVING);
        assert_eq!(status_field(&[0x08, 2]), 2);
        assert_eq!(status_field(&[]), 0);
        let mut long = Vec::new();
        varint(300, &mut long);
        assert_eq!(long, [0xac, 0x02]);
    }
}
