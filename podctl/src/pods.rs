//! A pod as the commands read it: its record, and its status from its
//! supervisor (else the file it last wrote); which container a command means.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use podcore::control;
use podcore::pod::{self, PodEntry, PodPaths, PodRecord};
use podcore::status::{ContainerStatus, PodStatus};
use podcore::supervisor;

use crate::error::CliError;

/// How long a question to a supervisor may take before its file is read instead.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// How many pods [`Pod::load_all`] reads at once.
const READERS: usize = 8;

/// A pod read for a command.
pub struct Pod {
    pub record: PodRecord,
    pub paths: PodPaths,
    /// None before its supervisor wrote any.
    pub status: Option<PodStatus>,
}

impl Pod {
    /// The pod `name` of `namespace`.
    pub fn find(root: &Path, namespace: &str, name: &str) -> anyhow::Result<Self> {
        Self::load(root, &pod::find(root, namespace, name)?)
    }

    /// The pod of an entry: its record and its status now.
    pub fn load(root: &Path, entry: &PodEntry) -> anyhow::Result<Self> {
        let paths = PodPaths::new(root, &entry.uid);
        let record: PodRecord =
            pod::read_json(&paths.record()).with_context(|| format!("read pod {}", entry.name))?;
        let status = status_of(&paths);
        Ok(Self {
            record,
            paths,
            status,
        })
    }

    /// The pods of `entries`, in their order, read a few at once: each
    /// read asks the pod's supervisor and waits for its answer, and hundreds
    /// of those waits one after another made `get pods` slow (or one stuck
    /// supervisor's timeout per pod).
    pub fn load_all(root: &Path, entries: &[PodEntry]) -> Vec<anyhow::Result<Self>> {
        let per_reader = entries.len().div_ceil(READERS).max(1);
        std::thread::scope(|scope| {
            let readers: Vec<_> = entries
                .chunks(per_reader)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|entry| Self::load(root, entry))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            readers
                .into_iter()
                .flat_map(|reader| reader.join().expect("reading a pod does not panic"))
                .collect()
        })
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.record.spec.name
    }

    /// The container a command is about: the one named (it must exist),
    /// else the only one, else the pod's first app container (with a note,
    /// as kubectl).
    pub fn pick_container(&self, wanted: Option<&str>) -> anyhow::Result<String> {
        let spec = &self.record.spec;
        let names: Vec<String> = spec.all_containers().map(|c| c.name.clone()).collect();
        match wanted {
            Some(c) if names.iter().any(|n| n == c) => Ok(c.to_string()),
            Some(c) => bail!(CliError::NotFound(format!(
                "container {c:?} is not in pod {} (containers: {})",
                self.name(),
                names.join(", ")
            ))),
            None => {
                let first = spec.containers[0].name.clone();
                if names.len() > 1 {
                    eprintln!(
                        "Defaulted container \"{first}\" out of: {}",
                        names.join(", ")
                    );
                }
                Ok(first)
            }
        }
    }

    /// Its status, which the commands that look at processes need.
    pub fn status_now(&self) -> anyhow::Result<&PodStatus> {
        self.status
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("pod {} has no status yet", self.name()))
    }

    /// The status of one of its containers, init containers included.
    pub fn container(&self, name: &str) -> Option<&ContainerStatus> {
        self.status.as_ref()?.container(name)
    }
}

/// A pod's status: its supervisor's answer, else (a stopped or gone
/// supervisor) the last status it wrote, Unknown when it is gone. A
/// supervisor stopped by a signal is not asked: it could not answer before
/// [`ASK_TIMEOUT`], and every command that lists it would wait that long.
pub fn status_of(paths: &PodPaths) -> Option<PodStatus> {
    if control::supervisor_pid(paths).is_some_and(stopped) {
        return supervisor::observed_status(paths);
    }
    match control::client::call(paths, &control::Request::Status, Some(ASK_TIMEOUT)) {
        Ok(control::Response::Status { status }) => Some(*status),
        _ => supervisor::observed_status(paths),
    }
}

/// The kinds of namespace a process has, as `/proc/PID/ns` names them.
pub const NAMESPACE_KINDS: [&str; 7] = ["net", "ipc", "uts", "pid", "mnt", "cgroup", "user"];

/// A process's namespace of one kind, as its link reads (`net:[4026532281]`).
pub fn namespace(pid: i32, kind: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|link| link.display().to_string())
}

/// Whether `pid` is stopped by a signal (SIGSTOP, SIGTSTP): it cannot act
/// until someone continues it. A process stopped by its tracer (`t`, as a
/// supervisor under strace is at each of its system calls) is not: the
/// tracer lets it go on, and it is given its deadline like any other.
pub fn stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "T")
    })
}
