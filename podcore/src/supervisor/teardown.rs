//! The ends of a supervisor's pod: a failed setup, a finished pod, and a
//! sandbox made anew after pause died. Taking the pod apart goes through
//! [`crate::teardown`], the one path podctl uses too.

use crate::control::StartReport;
use crate::status::{ConditionType, EventType, Phase, PodReason};

use super::lifecycle::Life;
use super::{Sandbox, Supervisor, SupervisorError, chain};

impl Supervisor {
    /// Setup failed: undo everything, tell podctl which step failed.
    pub(super) fn fail_setup(&mut self, error: &SupervisorError) {
        let mut error = chain(error);
        // libcontainer says the cause only in its log lines: pass the last ones on.
        let log = std::fs::read_to_string(self.paths.supervisor_log()).unwrap_or_default();
        let detail: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        if let Some(last) = detail.last() {
            error.push_str(&format!(" ({})", last.trim()));
        }
        tracing::error!(%error, "pod setup failed");
        // podctl removes the rest (folder, name, network) once told of the error.
        self.take_apart();
        if self.recovering {
            // Keep the pod and say why it ended.
            self.status.phase = Phase::Failed;
            self.fail_pod(PodReason::RecoveryFailed, Some(error.clone()));
            self.write_status();
            let _ = std::fs::remove_file(self.paths.supervisor_pid());
        }
        self.notify(&StartReport::Failed { error });
    }

    /// The pod stopped: take it apart, keeping what podctl removes on delete.
    pub(super) fn finish(&mut self) {
        let delete = matches!(self.sandbox, Sandbox::Stopping { delete: true, .. });
        if let Some(asked) = self.stop_asked {
            tracing::debug!(
                "step stop: every container and pause ended: {:.1} ms",
                asked.elapsed().as_secs_f64() * 1000.0
            );
        }
        super::spawn::step(
            "stop: teardown (containers' state, mounts, cgroups)",
            || self.take_apart(),
        );
        if !delete {
            self.status.terminating = false;
            self.dirty = true;
            self.write_status();
            let _ = std::fs::remove_file(self.paths.supervisor_pid());
        }
    }

    /// Kill and remove every container and the sandbox, mounts and cgroups;
    /// the folder, the name and the network are left to podctl, which waits
    /// for this process on every delete (the network is pinned in the
    /// host's mount namespace, out of this one's reach).
    fn take_apart(&mut self) {
        let _ = std::fs::remove_file(self.paths.control_socket());
        let left = crate::teardown::stop_pod(&self.paths.root, &self.record.entry());
        if !left.is_empty() {
            tracing::warn!(%left, "the pod could not be taken apart");
        }
        // Every child is gone: reap them all.
        while let Ok(status) =
            nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
    }

    /// Make a new sandbox after pause died; the containers are already gone.
    pub(super) fn rebuild_sandbox(&mut self) {
        self.sandbox = Sandbox::Running;
        let _ = nix::mount::umount2(&self.paths.shm(), nix::mount::MntFlags::MNT_DETACH);
        for slot in &mut self.slots {
            if slot.life != Life::Created {
                slot.life = Life::Waiting;
            }
        }
        self.initialized = false;
        match self.start_sandbox() {
            Ok(()) => {
                self.status.sandbox.restarts += 1;
                self.set_condition(ConditionType::Initialized, false);
            }
            Err(error) => self.sandbox_failed(&error),
        }
        self.dirty = true;
    }

    /// A new sandbox could not be made after pause died: the pod fails.
    pub(super) fn sandbox_failed(&mut self, error: &SupervisorError) {
        let error = chain(error);
        self.event(
            EventType::Warning,
            "FailedCreatePodSandBox",
            format!("cannot recreate the sandbox: {error}"),
        );
        self.fail_pod(PodReason::SandboxDied, None);
        self.begin_stop(0, false);
        self.dirty = true;
    }
}
