//! `podctl inspect NAME`: the runtime's view of a pod as JSON.

use std::path::Path;

use podcore::control;

use crate::commands::PodName;
use crate::pods::{self, Pod};

/// The namespace ids of a process, by kind.
fn namespaces(pid: i32) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for kind in pods::NAMESPACE_KINDS {
        if let Some(link) = pods::namespace(pid, kind) {
            out.insert(kind.into(), serde_json::Value::String(link));
        }
    }
    serde_json::Value::Object(out)
}

/// `podctl inspect NAME`: the runtime's view of a pod as JSON.
pub fn run(root: &Path, args: PodName) -> anyhow::Result<()> {
    let pod = Pod::find(root, &args.namespace, &args.name)?;
    let (record, paths, status) = (&pod.record, &pod.paths, pod.status_now()?);
    let pause = status.sandbox.pause_pid;
    let containers: Vec<serde_json::Value> = status
        .all_containers()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "id": c.container_id,
                "pid": c.pid,
                "namespaces": c.pid.map(namespaces),
                "cgroup": format!("/{}", record.cgroup(&c.name)),
                // The overlay is mounted in the supervisor's mount namespace
                // only; the container's root is reached from the host here.
                "rootfs": c.pid.map(|pid| format!("/proc/{pid}/root")),
                "log": paths.log_file(&c.name, c.restart_count),
                "image": c.image,
            })
        })
        .collect();
    let view = serde_json::json!({
        "name": record.spec.name,
        "namespace": record.spec.namespace,
        "uid": record.uid,
        "phase": status.phase.as_str(),
        "folder": paths.dir,
        "supervisor_pid": control::supervisor_pid(paths),
        "sandbox": {
            "id": status.sandbox.container_id,
            "pause_pid": pause,
            "namespaces": pause.map(namespaces),
            "restarts": status.sandbox.restarts,
        },
        "containers": containers,
    });
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}
