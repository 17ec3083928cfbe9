//! Work the supervisor hands to `podctl internal ...` (installed beside
//! it): pulling and resolving images, checking a client's container. The
//! supervisor lives as long as its pod and stays small by not linking the
//! registry client, the layer unpacker or the manifest reader; podctl runs
//! them in a process of its own and answers with JSON.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::pod::{PodRecord, ResolvedImage};
use crate::spec::PodSpec;

/// The podctl binary beside the supervisor's.
fn podctl() -> Result<std::path::PathBuf, String> {
    std::env::current_exe()
        .map(|exe| exe.with_file_name("podctl"))
        .map_err(|e| format!("find podctl beside the supervisor: {e}"))
}

/// Run `podctl --root ROOT [registry settings] internal ARGS`, `input` on
/// its stdin; its stdout, or its error message.
fn run(
    record: &PodRecord,
    root: &std::path::Path,
    args: &[&str],
    input: &[u8],
) -> Result<Vec<u8>, String> {
    let registries = &record.options.registries;
    let mut command = Command::new(podctl()?);
    command
        .arg("--root")
        .arg(root)
        .arg("--registries-config")
        .arg(&registries.config);
    for host in &registries.insecure {
        command.arg("--insecure-registry").arg(host);
    }
    let mut child = command
        .arg("internal")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run podctl: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("run podctl: {e}"))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let text = String::from_utf8_lossy(&out.stderr);
    Err(text
        .trim()
        .trim_start_matches("error: ")
        .lines()
        .collect::<Vec<_>>()
        .join("; "))
}

/// Start a gRPC health check (`podctl internal grpc-probe`) in the network
/// namespace of `pause_pid`: a process of its own, whose exit code (0:
/// SERVING) the supervisor reaps like an exec probe's. Its pid.
pub(super) fn grpc_probe(
    pause_pid: i32,
    port: u16,
    service: &str,
    timeout: std::time::Duration,
) -> Result<i32, String> {
    let child = Command::new(podctl()?)
        .args(["internal", "grpc-probe", "--netns"])
        .arg(format!("/proc/{pause_pid}/ns/net"))
        .arg("--port")
        .arg(port.to_string())
        .arg("--service")
        .arg(service)
        .arg("--timeout-ms")
        .arg(timeout.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("run podctl: {e}"))?;
    // Reaped by the supervisor's loop, not through this handle.
    Ok(child.id() as i32)
}

/// An image as a pod uses it, pulled first when `pull`.
pub(super) fn resolve_image(
    record: &PodRecord,
    root: &std::path::Path,
    image: &str,
    pull: bool,
) -> Result<ResolvedImage, String> {
    let mut args = vec!["resolve-image", image];
    if pull {
        args.push("--pull");
    }
    let out = run(record, root, &args, b"")?;
    serde_json::from_slice(&out).map_err(|e| format!("podctl's answer: {e}"))
}

/// A client's container checked as part of the pod's manifest, its image
/// resolved: the pod's new spec and the image.
pub(super) fn add_container(
    record: &PodRecord,
    root: &std::path::Path,
    container: &serde_json::Value,
) -> Result<(PodSpec, ResolvedImage), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        spec: PodSpec,
        image: ResolvedImage,
    }
    let input = serde_json::to_vec(container).map_err(|e| e.to_string())?;
    let out = run(record, root, &["add-container", &record.uid], &input)?;
    let answer: Answer =
        serde_json::from_slice(&out).map_err(|e| format!("podctl's answer: {e}"))?;
    Ok((answer.spec, answer.image))
}
