//! Reaping: the supervisor is every pod process's parent (a child
//! subreaper), so each end is told here: pause, a container, a probe, a
//! preStop hook or a client's exec.

use std::time::Instant;

use chrono::Utc;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::status::{
    self, ContainerState, EventType, PodReason, Terminated, TerminatedReason, WaitingReason,
};

use super::lifecycle::{self, Ended, Life, StopStage};
use super::output::Source;
use super::{Sandbox, Supervisor};

/// A wait status as an exit code (128 + signal when killed) and the signal.
pub(super) fn exit_code(status: WaitStatus) -> Option<(i32, Option<i32>)> {
    match status {
        WaitStatus::Exited(_, code) => Some((code, None)),
        WaitStatus::Signaled(_, signal, _) => Some((128 + signal as i32, Some(signal as i32))),
        _ => None,
    }
}

/// The most of a termination message file that is read (the kubelet's 4096).
const MAX_TERMINATION_MESSAGE: u64 = 4096;
/// FallbackToLogsOnError: the last lines of the log, at most this many bytes.
const FALLBACK_LINES: usize = 80;
const FALLBACK_BYTES: usize = 2048;

impl Supervisor {
    pub(super) fn reap(&mut self) {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => status,
            };
            let Some(pid) = status.pid().map(|p| p.as_raw()) else {
                continue;
            };
            if Some(pid) == self.pause_pid {
                self.pause_exited();
            } else if let Some((index, probe)) = self.probe_of(pid) {
                let ok = matches!(status, WaitStatus::Exited(_, 0));
                self.probe_result(index, probe, ok);
            } else if let Some(index) = self
                .slots
                .iter()
                .position(|s| s.life.hook_pid() == Some(pid))
            {
                self.hook_ended(index, status);
            } else if let Some(index) = self.slots.iter().position(|s| s.post_start == Some(pid)) {
                let ok = matches!(status, WaitStatus::Exited(_, 0));
                self.post_start_ended(index, ok, format!("it ended with {status:?}"));
            } else if let Some(run) = self.execs.iter_mut().find(|r| r.pid == pid) {
                run.exit_code = exit_code(status).map(|(code, _)| code);
                self.pump(Source::Exec(pid), true);
            } else if let Some(index) = self.slots.iter().position(|s| s.life.pid() == Some(pid)) {
                self.container_exited(index, status);
            }
        }
    }

    fn pause_exited(&mut self) {
        self.pause_pid = None;
        self.status.sandbox.pause_pid = None;
        crate::container::destroy(&self.state_root(), &self.paths.sandbox_id());
        if self.stopping() {
            return;
        }
        let rebuild = self.record.spec.restart_policy != crate::spec::RestartPolicy::Never
            && self.rules.mode == crate::pod::RestartMode::Policy;
        if rebuild {
            // As the kubelet: kill the containers, make a new sandbox,
            // run the init containers again, restart the app containers.
            self.event(
                EventType::Warning,
                "SandboxChanged",
                "pause exited: the pod's namespaces are gone, the sandbox will be recreated".into(),
            );
            self.sandbox = Sandbox::Rebuilding;
            let now = Instant::now();
            for slot in &mut self.slots {
                slot.life = lifecycle::request_stop(slot.life, now, false);
                if let Some(pid) = slot.life.pid() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        } else {
            self.event(
                EventType::Warning,
                "SandboxChanged",
                "pause exited: the pod's namespaces are gone, stopping the pod".into(),
            );
            self.fail_pod(PodReason::SandboxDied, None);
            self.begin_stop(0, false);
        }
    }

    fn hook_ended(&mut self, index: usize, status: WaitStatus) {
        if let Life::Running {
            stop: Some(stop), ..
        } = &mut self.slots[index].life
        {
            stop.stage = StopStage::HookDone;
        }
        if !matches!(status, WaitStatus::Exited(_, 0)) {
            let name = self.slots[index].spec.name.clone();
            self.event(
                EventType::Warning,
                "FailedPreStopHook",
                format!("preStop hook of {name} ended with {status:?}"),
            );
        }
    }

    fn container_exited(&mut self, index: usize, status: WaitStatus) {
        self.pump(Source::Container(index), true);
        if let Some(hook) = self.slots[index].post_start.take() {
            let _ = kill(Pid::from_raw(hook), Signal::SIGKILL);
        }
        let Some((code, signal)) = exit_code(status) else {
            return;
        };
        let slot = &self.slots[index];
        let oom = crate::cgroups::oom_kills(&slot.cgroup).unwrap_or(0) > slot.oom_before;
        let started_at = match slot.status.state {
            ContainerState::Running { started_at } => Some(started_at),
            _ => None,
        };
        let reason = if oom && signal == Some(Signal::SIGKILL as i32) {
            TerminatedReason::OomKilled
        } else {
            status::exit_reason(code)
        };
        let (since, stopped) = match slot.life {
            Life::Running { since, stop, .. } => (Some(since), stop.is_some()),
            _ => (None, false),
        };
        let terminated = Terminated {
            exit_code: code,
            signal,
            reason,
            message: self.termination_message(index, code),
            started_at,
            finished_at: Utc::now(),
        };
        let name = slot.spec.name.clone();
        self.event(
            if code == 0 {
                EventType::Normal
            } else {
                EventType::Warning
            },
            "Exited",
            format!("Container {name} exited with code {code} ({reason})"),
        );
        self.cleanup_container(index);
        let ended = Ended {
            exit_code: code,
            stopped: stopped || self.sandbox != Sandbox::Running,
            ran_for: since.map(|s| s.elapsed()),
        };
        self.after_exit(index, ended, terminated);
    }

    /// What a run left in its termination message file (at most 4 KiB, as
    /// the kubelet reads); with FallbackToLogsOnError and a failure, else
    /// the end of its log (80 lines, 2 KiB).
    fn termination_message(&self, index: usize, code: i32) -> Option<String> {
        use std::io::Read;
        let slot = &self.slots[index];
        let name = &slot.spec.name;
        let mut bytes = Vec::new();
        if let Ok(file) = std::fs::File::open(self.paths.termination_log(name)) {
            let _ = file.take(MAX_TERMINATION_MESSAGE).read_to_end(&mut bytes);
        }
        let mut message = String::from_utf8_lossy(&bytes).into_owned();
        let fallback = slot.spec.termination_message_policy
            == crate::spec::TerminationMessagePolicy::FallbackToLogsOnError;
        if message.is_empty() && fallback && code != 0 {
            let file = self.paths.log_file(name, slot.status.restart_count);
            let mut lines = Vec::new();
            let _ = crate::logs::Follower::new(&file, crate::logs::Start::Tail(FALLBACK_LINES))
                .poll(|_, line| {
                    lines.push(line.to_string());
                    Ok(())
                });
            let text = lines.join("\n");
            let cut = text.len().saturating_sub(FALLBACK_BYTES);
            let start = (cut..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            message = text[start..].to_string();
        }
        (!message.is_empty()).then_some(message)
    }

    /// What follows a run's end, by [`lifecycle::after_exit`].
    pub(super) fn after_exit(&mut self, index: usize, ended: Ended, terminated: Terminated) {
        let now = Instant::now();
        let rules = self.rules;
        let slot = &mut self.slots[index];
        for probe in slot.probes.drain(..) {
            if let Some((pid, _)) = probe.running {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let (life, step, delay) =
            lifecycle::after_exit(&rules, slot.kind, ended, slot.backoff_step, now);
        slot.life = life;
        slot.backoff_step = step;
        slot.status.pid = None;
        slot.status.ready = false;
        self.dirty = true;
        match delay {
            Some(delay) => {
                let name = slot.spec.name.clone();
                slot.status.last_state = Some(terminated);
                slot.status.state = ContainerState::Waiting {
                    reason: WaitingReason::CrashLoopBackOff,
                    message: Some(format!(
                        "back-off {delay:?} restarting failed container={name}"
                    )),
                };
                let message = format!("Back-off {delay:?} restarting container {name}");
                self.event(EventType::Warning, "BackOff", message);
            }
            None => slot.status.state = ContainerState::Terminated(terminated),
        }
    }
}
