//! `podctl ns NAME`: a pod's namespaces as a table.

use std::path::Path;

use crate::commands::PodName;
use crate::output;
use crate::pods::{self, Pod};

/// `podctl ns NAME`: the pod's namespaces as a table, like `lsns`, with
/// which are shared with pause and which are the host's.
pub fn run(root: &Path, args: PodName) -> anyhow::Result<()> {
    let pod = Pod::find(root, &args.namespace, &args.name)?;
    let status = pod.status_now()?;
    let pause = status.sandbox.pause_pid;
    let host = std::process::id() as i32;
    let link = pods::namespace;
    let mut members: Vec<(String, i32)> = pause
        .map(|p| ("pause".to_string(), p))
        .into_iter()
        .collect();
    members.extend(
        status
            .all_containers()
            .filter_map(|c| Some((c.name.clone(), c.pid?))),
    );
    let mut rows = Vec::new();
    for (container, pid) in &members {
        for kind in pods::NAMESPACE_KINDS {
            let Some(id) = link(*pid, kind) else { continue };
            let number = id
                .split('[')
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(']')
                .to_string();
            let shared = if link(host, kind).as_deref() == Some(id.as_str()) {
                "host"
            } else if container != "pause"
                && pause.and_then(|p| link(p, kind)).as_deref() == Some(id.as_str())
            {
                "pause"
            } else {
                "own"
            };
            rows.push(vec![
                number,
                kind.to_string(),
                pid.to_string(),
                container.clone(),
                shared.to_string(),
            ]);
        }
    }
    output::table(&["NS", "TYPE", "PID", "CONTAINER", "SHARED"], &rows)?;
    Ok(())
}
