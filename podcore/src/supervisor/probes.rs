//! Startup, liveness and readiness probes of running containers: exec
//! probes run in the background and end in `reap`, network probes run
//! here, bounded by their timeout. The counting rules are in [`crate::probe`].

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::probe::{Kind as Probe, Outcome, ProbeState};
use crate::spec::{Container, ProbeAction};
use crate::status::EventType;

use super::lifecycle::Kind;
use super::{Sandbox, Slot, Supervisor};

/// How long a postStart HTTP call may take (the supervisor waits for it).
const POST_START_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A container's probes, fresh for a run that started at `started`.
pub(super) fn fresh(spec: &Container, kind: Kind, started: Instant) -> Vec<ProbeState> {
    if kind == Kind::Init {
        return Vec::new();
    }
    [
        (Probe::Startup, &spec.startup_probe),
        (Probe::Liveness, &spec.liveness_probe),
        (Probe::Readiness, &spec.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.clone().map(|p| ProbeState::new(k, p, started)))
    .collect()
}

/// Ready: started (startup probe passed, if any) and its readiness probe passing (if any).
pub(super) fn is_ready(slot: &Slot) -> bool {
    slot.probes.iter().all(|p| match p.kind {
        Probe::Liveness => true,
        Probe::Startup | Probe::Readiness => p.passed,
    })
}

impl Supervisor {
    /// Run the probes that are due.
    pub(super) fn run_probes(&mut self) {
        if self.sandbox != Sandbox::Running {
            return;
        }
        let now = Instant::now();
        for index in 0..self.slots.len() {
            if !self.slots[index].life.is_running() || self.slots[index].post_start.is_some() {
                continue;
            }
            let startup_pending = self.slots[index]
                .probes
                .iter()
                .any(|p| p.kind == Probe::Startup && !p.passed);
            for probe in 0..self.slots[index].probes.len() {
                let state = &self.slots[index].probes[probe];
                if state.kind != Probe::Startup && startup_pending {
                    continue;
                }
                if let Some((pid, deadline)) = state.running {
                    if now >= deadline {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        self.slots[index].probes[probe].running = None;
                        self.probe_result(index, probe, false);
                    }
                    continue;
                }
                if state.next > now {
                    continue;
                }
                let timeout = Duration::from_secs(state.spec.timeout_seconds);
                match state.spec.action.clone() {
                    ProbeAction::Exec(command) => {
                        match self.exec_in(index, command, crate::container::ExecIo::Quiet) {
                            Ok(pid) => {
                                self.slots[index].probes[probe].running = Some((pid, now + timeout))
                            }
                            Err(_) => self.probe_result(index, probe, false),
                        }
                    }
                    ProbeAction::Grpc { port, service } => {
                        let started = self
                            .pause_pid
                            .ok_or_else(|| "no sandbox".to_string())
                            .and_then(|pause| {
                                super::delegate::grpc_probe(pause, port, &service, timeout)
                            });
                        match started {
                            Ok(pid) => {
                                self.slots[index].probes[probe].running = Some((pid, now + timeout))
                            }
                            Err(_) => self.probe_result(index, probe, false),
                        }
                    }
                    action => {
                        let ok = self.pause_pid.is_some_and(|pause| {
                            crate::probe::check_network(pause, &action, timeout)
                        });
                        self.probe_result(index, probe, ok);
                    }
                }
            }
        }
    }

    /// Run a container's postStart hook: until it returns the container
    /// waits (ContainerCreating) and is not probed; an exec hook runs in the
    /// background and ends in `reap`, an HTTP one is called here.
    pub(super) fn begin_post_start(&mut self, index: usize, hook: ProbeAction) {
        let slot = &mut self.slots[index];
        slot.status.state = crate::status::ContainerState::Waiting {
            reason: crate::status::WaitingReason::ContainerCreating,
            message: Some("postStart hook running".into()),
        };
        slot.status.ready = false;
        slot.probes.clear();
        self.dirty = true;
        match hook {
            ProbeAction::Exec(command) => {
                match self.exec_in(index, command, crate::container::ExecIo::Quiet) {
                    Ok(pid) => self.slots[index].post_start = Some(pid),
                    Err(error) => self.post_start_failed(index, super::chain(&error)),
                }
            }
            action => {
                let ok = self.pause_pid.is_some_and(|pause| {
                    crate::probe::check_network(pause, &action, POST_START_HTTP_TIMEOUT)
                });
                if ok {
                    self.post_start_done(index);
                } else {
                    self.post_start_failed(index, format!("{action:?} failed"));
                }
            }
        }
    }

    /// The postStart hook of the container at `index` ended with `ok`.
    pub(super) fn post_start_ended(&mut self, index: usize, ok: bool, how: String) {
        self.slots[index].post_start = None;
        if ok {
            self.post_start_done(index);
        } else {
            self.post_start_failed(index, how);
        }
    }

    fn post_start_done(&mut self, index: usize) {
        let now = Instant::now();
        let slot = &mut self.slots[index];
        if !slot.life.is_running() {
            return;
        }
        slot.status.state = crate::status::ContainerState::Running {
            started_at: chrono::Utc::now(),
        };
        slot.probes = fresh(&slot.spec, slot.kind, now);
        slot.status.ready = slot.kind != Kind::Init && is_ready(slot);
        self.dirty = true;
    }

    /// A failed postStart hook kills the container; its restart policy decides what follows.
    fn post_start_failed(&mut self, index: usize, why: String) {
        let name = self.slots[index].spec.name.clone();
        self.event(
            EventType::Warning,
            "FailedPostStartHook",
            format!("postStart hook of {name} failed: {why}"),
        );
        if let Some(pid) = self.slots[index].life.pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// The probe of this pid, if one runs.
    pub(super) fn probe_of(&self, pid: i32) -> Option<(usize, usize)> {
        self.slots.iter().enumerate().find_map(|(i, s)| {
            s.probes
                .iter()
                .position(|p| p.running.is_some_and(|(p, _)| p == pid))
                .map(|j| (i, j))
        })
    }

    pub(super) fn probe_result(&mut self, index: usize, probe: usize, ok: bool) {
        let Some(state) = self.slots[index].probes.get_mut(probe) else {
            return;
        };
        let kind = state.kind;
        let outcome = state.record(ok, Instant::now());
        let name = self.slots[index].spec.name.clone();
        if !ok {
            self.event(
                EventType::Warning,
                "Unhealthy",
                format!("{} probe of container {name} failed", kind.as_str()),
            );
        }
        if outcome == Outcome::Kill {
            self.event(
                EventType::Normal,
                "Killing",
                format!(
                    "Container {name} failed its {} probe, it will be restarted",
                    kind.as_str().to_lowercase()
                ),
            );
            if let Some(pid) = self.slots[index].life.pid() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let slot = &mut self.slots[index];
        let ready = slot.kind != Kind::Init && slot.life.is_running() && is_ready(slot);
        if slot.status.ready != ready || outcome != Outcome::Nothing {
            slot.status.ready = ready;
            slot.status.started = slot
                .probes
                .iter()
                .filter(|p| p.kind == Probe::Startup)
                .all(|p| p.passed);
            self.dirty = true;
        }
    }
}
