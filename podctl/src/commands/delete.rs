//! `podctl delete pod NAME...`: every supervisor is asked to stop its pod,
//! all are waited for together, and whatever is left is removed.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use podcore::control;
use podcore::pod::{self, PodPaths, PodRecord};

use crate::commands::Resource;
use crate::error::CliError;
use crate::output;
use crate::pods::{ASK_TIMEOUT, stopped};

/// `podctl delete` arguments.
#[derive(clap::Args)]
pub struct DeleteArgs {
    /// pods (pod, po), configmaps (configmap, cm) or secrets (secret).
    resource: Resource,
    names: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL (default: the pod's terminationGracePeriodSeconds).
    #[arg(long)]
    grace_period: Option<u64>,
    /// Every pod of the namespace.
    #[arg(long)]
    all: bool,
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

/// `podctl delete pod NAME...`: ask every supervisor to stop its pod, then
/// wait for all of them together; "deleted" only once nothing of a pod is left.
pub fn run(root: &Path, args: DeleteArgs) -> anyhow::Result<()> {
    if let Some(kind) = args.resource.object_kind() {
        return super::objects::delete(root, kind, &args.names, args.all, &args.namespace);
    }
    let entries: Vec<pod::PodEntry> = if args.all {
        pod::list(root)
            .into_iter()
            .filter(|p| p.namespace == args.namespace)
            .collect()
    } else if args.names.is_empty() {
        bail!(CliError::Usage(
            "name the pods to delete, or use --all".into()
        ));
    } else {
        args.names
            .iter()
            .map(|n| pod::find(root, &args.namespace, n))
            .collect::<Result<_, _>>()?
    };
    let failed = delete_entries(root, &entries, args.grace_period);
    for entry in &entries {
        if !failed.iter().any(|(f, _)| f.uid == entry.uid) {
            println!("pod \"{}\" deleted", entry.name);
        }
    }
    all_deleted(failed)
}

/// Stop and remove pods (after `grace` seconds, default each pod's own);
/// an error names what is left.
pub fn remove_all(
    root: &Path,
    entries: &[pod::PodEntry],
    grace: Option<u64>,
) -> anyhow::Result<()> {
    all_deleted(delete_entries(root, entries, grace))
}

/// An error naming the first pod of which something is left, if any.
fn all_deleted(failed: Vec<(pod::PodEntry, podcore::teardown::Leftovers)>) -> anyhow::Result<()> {
    if let Some((entry, left)) = failed.first() {
        bail!(
            "pod {:?} is not fully deleted, these remain: {left} (run delete again; {} pod(s) not fully deleted)",
            entry.name,
            failed.len()
        );
    }
    Ok(())
}

/// How long past its grace period a supervisor gets to finish stopping its
/// pod before it is killed and the pod is cleaned up without it.
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// Stop and remove pods; returns those of which something is left.
fn delete_entries(
    root: &Path,
    entries: &[pod::PodEntry],
    grace: Option<u64>,
) -> Vec<(pod::PodEntry, podcore::teardown::Leftovers)> {
    // Ask every live supervisor at once; nothing is written (a full disk
    // must not stop a delete). One that does not answer is killed below.
    let mut waiting = Vec::new();
    for entry in entries {
        let paths = PodPaths::new(root, &entry.uid);
        let record: Option<PodRecord> = pod::read_json(&paths.record()).ok();
        // Without a record the supervisor knows the pod's own grace period.
        let grace_seconds = grace.or(record.map(|r| r.spec.termination_grace_period_seconds));
        if let Some(pid) = control::supervisor_pid(&paths) {
            let stop = control::Request::StopPod {
                grace_seconds: grace,
            };
            let asked = if stopped(pid) {
                Err(control::ClientError::NoAnswer)
            } else {
                control::client::call(&paths, &stop, Some(ASK_TIMEOUT))
            };
            let deadline = match asked {
                Ok(_) => {
                    let waited = grace_seconds.unwrap_or(podcore::spec::defaults::GRACE_SECONDS);
                    Instant::now() + Duration::from_secs(waited) + STOP_MARGIN
                }
                Err(error) => {
                    // Stopped, or not listening: it is killed at once below.
                    tracing::warn!(%error, "the pod's supervisor did not take the stop request");
                    Instant::now()
                }
            };
            waiting.push((entry.name.as_str(), paths, pid, deadline));
        }
    }
    let progress = output::spinner();
    let started = Instant::now();
    while !waiting.is_empty() {
        if started.elapsed() > Duration::from_millis(300) {
            let names: Vec<&str> = waiting.iter().map(|(name, ..)| *name).collect();
            progress.set_message(format!(
                "waiting for {} to stop ({:.0?} so far)",
                names.join(", "),
                started.elapsed()
            ));
            progress.tick();
        }
        waiting.retain(|(_, paths, pid, deadline)| {
            if control::supervisor_pid(paths) != Some(*pid) {
                return false;
            }
            // A stopped supervisor cannot act, and one past its deadline will not.
            if Instant::now() < *deadline && !stopped(*pid) {
                return true;
            }
            tracing::warn!(pid, "the pod's supervisor did not stop the pod: killing it");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            // The kernel drops its lock once it is gone.
            let until = Instant::now() + Duration::from_secs(5);
            while control::supervisor_pid(paths) == Some(*pid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        });
        // A supervisor lets go of its lock as it exits: looked for often,
        // so that a delete is not a poll interval longer than its work.
        std::thread::sleep(LOCK_POLL);
    }
    progress.finish_and_clear();
    tracing::debug!(
        "step supervisors stopped their pods: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if tracing::enabled!(tracing::Level::DEBUG) {
        // How each supervisor's stop went, from its log (gone with the pod).
        for entry in entries {
            let log = std::fs::read_to_string(PodPaths::new(root, &entry.uid).supervisor_log());
            for line in log
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(" step stop"))
            {
                eprintln!("{line}");
            }
        }
    }
    // Whatever the supervisors did or did not do: remove what is left and
    // look, a few pods at a time (most of a pod's cleanup is waiting on the
    // kernel and on CNI plugins; nothing here creates containers).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..CLEANUP_WORKERS.min(entries.len()) {
            scope.spawn(|| {
                while let Some(entry) = entries.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let removing = Instant::now();
                    let left = podcore::teardown::remove_pod(root, entry);
                    tracing::debug!(
                        "step pod {} removed (processes, network, pins, mounts, cgroups, folder): {:.1} ms",
                        entry.name,
                        removing.elapsed().as_secs_f64() * 1000.0
                    );
                    if !left.is_empty() {
                        failed
                            .lock()
                            .expect("no worker panics")
                            .push((entry.clone(), left));
                    }
                }
            });
        }
    });
    failed.into_inner().expect("no worker panics")
}

/// How often `delete` looks whether the pods' supervisors are done.
const LOCK_POLL: Duration = Duration::from_millis(2);

/// How many pods are cleaned up at once by `delete`.
const CLEANUP_WORKERS: usize = 8;
