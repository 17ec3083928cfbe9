//! Stopping: one container (its preStop hook, its stop signal, SIGKILL at
//! its deadline, by [`lifecycle::stop_action`]) and the whole pod (apps,
//! then sidecars in reverse order, then pause, by [`lifecycle::pod_stop`]).

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::status::EventType;

use super::lifecycle::{self, Kind, Life, PodStage, PodStopAction, StopAction};
use super::{Sandbox, Supervisor, chain};

impl Supervisor {
    /// A stop of the pod was asked (a signal or a client): stop it and let
    /// podctl remove it; `grace` shortens the pod's own grace period.
    pub(super) fn stop_requested(&mut self, grace: Option<u64>) {
        let grace = grace.unwrap_or(self.record.spec.termination_grace_period_seconds);
        self.stop_asked.get_or_insert_with(Instant::now);
        self.event(
            EventType::Normal,
            "Killing",
            format!("pod deletion requested, grace period {grace}s"),
        );
        self.begin_stop(grace, true);
    }

    /// Stop the pod: every container but the sidecars now, with `grace`
    /// seconds before SIGKILL. A second stop can only shorten the first.
    pub(super) fn begin_stop(&mut self, grace: u64, delete: bool) {
        let new_deadline = Instant::now() + Duration::from_secs(grace);
        let (stage, deadline, delete) = match self.sandbox {
            Sandbox::Stopping {
                stage,
                deadline,
                delete: before,
            } => (stage, deadline.min(new_deadline), before || delete),
            _ => (PodStage::Apps, new_deadline, delete),
        };
        if delete {
            self.status.terminating = true;
        }
        self.sandbox = Sandbox::Stopping {
            stage,
            deadline,
            delete,
        };
        for slot in &mut self.slots {
            let ask = slot.kind != Kind::Sidecar || stage != PodStage::Apps;
            if ask || !slot.life.is_running() {
                slot.life = lifecycle::request_stop(slot.life, deadline, false);
            }
        }
        self.dirty = true;
    }

    /// Ask one container to stop within `timeout` (a client's `stop`).
    pub(super) fn stop_container(&mut self, index: usize, timeout: Duration) {
        let slot = &mut self.slots[index];
        slot.life = lifecycle::request_stop(slot.life, Instant::now() + timeout, true);
        self.dirty = true;
    }

    /// Carry every container's stop one step further.
    pub(super) fn drive_stops(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let Life::Running {
                pid,
                stop: Some(stop),
                ..
            } = self.slots[index].life
            else {
                continue;
            };
            let hook = self.slots[index].spec.pre_stop.clone();
            let Some(action) = lifecycle::stop_action(stop, hook.is_some(), now) else {
                continue;
            };
            let name = self.slots[index].spec.name.clone();
            let mut hook_pid = None;
            match action {
                StopAction::Kill => {
                    if let Some(hook) = self.slots[index].life.hook_pid() {
                        let _ = kill(Pid::from_raw(hook), Signal::SIGKILL);
                    }
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                StopAction::RunHook => {
                    let command = hook.unwrap_or_default();
                    match self.exec_in(index, command, crate::container::ExecIo::Quiet) {
                        Ok(pid) => {
                            hook_pid = Some(pid);
                            self.event(
                                EventType::Normal,
                                "PreStop",
                                format!("Running the preStop hook of container {name}"),
                            );
                        }
                        Err(error) => self.event(
                            EventType::Warning,
                            "FailedPreStopHook",
                            format!("preStop hook of {name}: {}", chain(&error)),
                        ),
                    }
                }
                StopAction::Signal => {
                    let signal = self.stop_signal(index);
                    self.event(
                        EventType::Normal,
                        "Killing",
                        format!("Stopping container {name} with {signal}"),
                    );
                    let _ = kill(Pid::from_raw(pid), signal);
                }
            }
            if let Life::Running {
                stop: Some(stop), ..
            } = &mut self.slots[index].life
            {
                stop.stage = lifecycle::stage_after(action, hook_pid);
            }
            // A failed hook goes straight on to the signal.
            if action == StopAction::RunHook && hook_pid.is_none() {
                self.drive_stops();
                return;
            }
        }
    }

    /// Advance a pod stop; true once everything has stopped.
    pub(super) fn drive_pod_stop(&mut self) -> bool {
        loop {
            let Sandbox::Stopping {
                stage,
                deadline,
                delete,
            } = self.sandbox
            else {
                return false;
            };
            let past_deadline = Instant::now() >= deadline;
            let (stage, action) = lifecycle::pod_stop(
                stage,
                &self.lives(),
                self.pause_pid.is_some(),
                past_deadline,
            );
            self.sandbox = Sandbox::Stopping {
                stage,
                deadline,
                delete,
            };
            match action {
                Some(PodStopAction::StopSidecar(index)) => {
                    let slot = &mut self.slots[index];
                    if !matches!(slot.life, Life::Running { stop: None, .. }) {
                        return false;
                    }
                    slot.life = lifecycle::request_stop(slot.life, deadline, false);
                    self.drive_stops();
                    // Past the deadline the next sidecar goes at once too.
                    if !past_deadline {
                        return false;
                    }
                }
                Some(PodStopAction::KillPause) => {
                    if let Some(pid) = self.pause_pid {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                    return false;
                }
                None => return stage == PodStage::Done,
            }
        }
    }

    /// The image's StopSignal, else SIGTERM.
    fn stop_signal(&self, index: usize) -> Signal {
        self.record
            .images
            .get(&self.slots[index].spec.name)
            .and_then(|image| image.stop_signal.as_deref())
            .and_then(|s| {
                s.parse::<Signal>()
                    .ok()
                    .or_else(|| format!("SIG{s}").parse().ok())
            })
            .unwrap_or(Signal::SIGTERM)
    }
}
