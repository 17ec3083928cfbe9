//! `podctl recover NAME`: a new supervisor for a pod whose supervisor died.

use std::path::Path;

use anyhow::{Context, bail};
use podcore::control;

use crate::commands::PodName;
use crate::launch;
use crate::pods::Pod;

/// `podctl recover NAME`: a new supervisor takes over a pod whose supervisor
/// died. Containers that outlived it cannot be waited for by anyone else,
/// so they are stopped and started again in a new sandbox; restart counts,
/// logs and volumes are kept.
pub fn run(root: &Path, args: PodName) -> anyhow::Result<()> {
    let name = &args.name;
    let Pod {
        record,
        paths,
        status,
    } = Pod::find(root, &args.namespace, name)?;
    if control::supervisor_pid(&paths).is_some() {
        println!("pod \"{name}\" has a running supervisor: nothing to recover");
        return Ok(());
    }
    if status.as_ref().is_some_and(|s| s.phase.is_terminal()) {
        println!("pod \"{name}\" has ended: nothing to recover");
        return Ok(());
    }
    let supervisor = launch::supervisor_binary()?;
    let left = podcore::teardown::stop_pod(root, &record.entry());
    if !left.is_empty() {
        bail!("pod {name}: what its last supervisor left cannot be removed: {left}");
    }
    // The run tmpfs and pins lost (a reboot unmounts them) are made anew;
    // the network's below.
    podcore::runtime::mount_run_dir(root).with_context(|| format!("recover pod {name}"))?;
    let kinds: Vec<_> = podcore::namespaces::wanted(&record.spec)
        .into_iter()
        .filter(|&k| k != podcore::namespaces::Shared::Net)
        .collect();
    podcore::namespaces::pin(root, &record.uid, &record.spec, &kinds)
        .with_context(|| format!("recover pod {name}"))?;
    // The pod keeps its network (and IP) when CNI CHECK says it is whole.
    if podcore::network::ensure(root, &record).with_context(|| format!("recover pod {name}"))? {
        eprintln!("pod \"{name}\": its network failed its check and was made anew");
    }
    launch::start_supervisor(root, &record, &supervisor, true, None, None)
        .with_context(|| format!("recover pod {name}"))?;
    println!("pod \"{name}\" recovered");
    Ok(())
}
