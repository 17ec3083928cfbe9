//! What the supervisor tells of the pod: its status (`status.json`,
//! written atomically on every change), its events and conditions, and
//! the phase by the kubelet's rule.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::pod::{PodPaths, PodRecord, read_json, write_json};
use crate::spec::Container;
use crate::status::{
    self, Condition, ConditionType, ContainerState, ContainerStatus, Event, EventType, Phase,
    PodReason, PodStatus, SandboxStatus, WaitingReason,
};

use super::lifecycle::{Kind, Life};
use super::{Sandbox, Supervisor};

/// The most events a pod keeps (the oldest go first).
const MAX_EVENTS: usize = 200;

/// The pod's addresses (`status.podIP`, `status.podIPs`), from the network
/// podctl made (none yet, or with hostNetwork: none).
pub(super) fn addresses(paths: &PodPaths) -> (Option<String>, Vec<String>) {
    let attachment = crate::network::attachment(paths);
    let pod_ip = attachment
        .as_ref()
        .and_then(|a| a.pod_ip())
        .map(str::to_string);
    (pod_ip, attachment.map(|a| a.ips).unwrap_or_default())
}

/// A new pod's status: Pending, its addresses, its conditions.
pub(super) fn new_status(paths: &PodPaths, record: &PodRecord) -> PodStatus {
    let now = Utc::now();
    let condition = |kind: ConditionType| Condition {
        kind,
        status: kind == ConditionType::PodScheduled,
        last_transition_time: now,
    };
    let (pod_ip, pod_ips) = addresses(paths);
    PodStatus {
        phase: Phase::Pending,
        reason: None,
        message: None,
        start_time: Some(now),
        pod_ip,
        pod_ips,
        host_ip: crate::network::host_ip(),
        qos_class: record.qos(),
        terminating: false,
        conditions: [
            ConditionType::PodScheduled,
            ConditionType::Initialized,
            ConditionType::ContainersReady,
            ConditionType::Ready,
        ]
        .map(condition)
        .to_vec(),
        sandbox: SandboxStatus {
            pause_pid: None,
            container_id: paths.sandbox_id(),
            restarts: 0,
        },
        init_containers: Vec::new(),
        containers: Vec::new(),
        events: Vec::new(),
    }
}

/// A container's status before its first start.
pub(super) fn new_container_status(
    paths: &PodPaths,
    record: &PodRecord,
    spec: &Container,
    kind: Kind,
    life: Life,
) -> ContainerStatus {
    let image = record.images.get(&spec.name);
    let reason = if life == Life::Created {
        WaitingReason::Created
    } else if kind == Kind::App && !record.spec.init_containers.is_empty() {
        WaitingReason::PodInitializing
    } else {
        WaitingReason::ContainerCreating
    };
    ContainerStatus {
        name: spec.name.clone(),
        image: image.map(|i| i.reference.clone()).unwrap_or_default(),
        image_id: image.map(|i| i.digest.clone()).unwrap_or_default(),
        container_id: paths.container_id(&spec.name),
        state: ContainerState::Waiting {
            reason,
            message: None,
        },
        last_state: None,
        restart_count: 0,
        pid: None,
        ready: false,
        started: false,
    }
}

impl Supervisor {
    pub(super) fn event(&mut self, kind: EventType, reason: &str, message: String) {
        tracing::info!(reason, %message, "event");
        self.status.events.push(Event {
            time: Utc::now(),
            kind,
            reason: reason.into(),
            message,
        });
        if self.status.events.len() > MAX_EVENTS {
            self.status.events.remove(0);
        }
        self.dirty = true;
    }

    pub(super) fn set_condition(&mut self, kind: ConditionType, value: bool) {
        if let Some(c) = self.status.conditions.iter_mut().find(|c| c.kind == kind)
            && c.status != value
        {
            c.status = value;
            c.last_transition_time = Utc::now();
            self.dirty = true;
        }
    }

    /// Carry over what a dead supervisor recorded: restart counts, last
    /// states, events; every container starts again in a new sandbox.
    pub(super) fn take_over(&mut self, previous: PodStatus) {
        self.recovering = true;
        for slot in &mut self.slots {
            if let Some(old) = previous.container(&slot.spec.name) {
                slot.status.restart_count = old.restart_count;
                slot.status.last_state = match &old.state {
                    ContainerState::Terminated(t) => Some(t.clone()),
                    _ => old.last_state.clone(),
                };
                slot.ever_started = old.started || old.restart_count > 0;
            }
        }
        self.status.start_time = previous.start_time;
        self.status.events = previous.events;
        self.status.sandbox.restarts = previous.sandbox.restarts + 1;
        self.event(
            EventType::Warning,
            "Recovered",
            "the pod's supervisor was lost: a new one recreated the sandbox and restarts the containers".into(),
        );
    }

    /// The phase by the kubelet's rule, the readiness conditions, and the
    /// end of a pod whose containers are all done.
    pub(super) fn update_phase(&mut self) {
        if self.sandbox == Sandbox::Rebuilding {
            return;
        }
        let apps: Vec<ContainerState> = self
            .slots
            .iter()
            .filter(|s| s.kind == Kind::App)
            .map(|s| s.status.state.clone())
            .collect();
        let phase = status::pod_phase(
            self.rules.policy,
            self.init_failed_never(),
            !self.initialized,
            &apps,
        );
        let apps_ready = self.initialized
            && self
                .slots
                .iter()
                .filter(|s| s.kind != Kind::Init)
                .all(|s| s.life.is_running() && s.status.ready);
        self.set_condition(ConditionType::ContainersReady, apps_ready);
        self.set_condition(ConditionType::Ready, apps_ready);
        if self.status.phase.is_terminal() || phase == self.status.phase {
            return;
        }
        // A client's sandbox lives until it is stopped, whatever its containers do.
        if phase.is_terminal() && self.rules.mode == crate::pod::RestartMode::Client {
            return;
        }
        self.status.phase = phase;
        self.dirty = true;
        if phase.is_terminal() && !self.stopping() {
            self.event(
                EventType::Normal,
                "Completed",
                format!("pod {}", phase.as_str()),
            );
            self.begin_stop(self.record.spec.termination_grace_period_seconds, false);
        }
    }

    /// The status as it is now.
    pub(super) fn current_status(&mut self) -> PodStatus {
        self.status.init_containers = self
            .slots
            .iter()
            .filter(|s| s.kind != Kind::App)
            .map(|s| s.status.clone())
            .collect();
        self.status.containers = self
            .slots
            .iter()
            .filter(|s| s.kind == Kind::App)
            .map(|s| s.status.clone())
            .collect();
        self.status.clone()
    }

    pub(super) fn write_status(&mut self) {
        if !self.dirty {
            return;
        }
        let status = self.current_status();
        let written = super::spawn::step("status written (temp file, fsync, rename)", || {
            write_json(&self.paths.status(), &status)
        });
        if let Err(error) = written {
            tracing::error!(%error, "write status");
        }
        self.dirty = false;
    }

    /// The pod ends with a reason (and a message).
    pub(super) fn fail_pod(&mut self, reason: PodReason, message: Option<String>) {
        self.status.reason = Some(reason);
        if message.is_some() {
            self.status.message = message;
        }
        self.dirty = true;
    }
}

/// The status a reader should show: the file, or Unknown when the supervisor
/// of a pod that is not finished is gone.
pub fn observed_status(paths: &PodPaths) -> Option<PodStatus> {
    let mut status: PodStatus = read_json(&paths.status()).ok()?;
    if !status.phase.is_terminal() && crate::control::supervisor_pid(paths).is_none() {
        status.phase = Phase::Unknown;
        status.reason = Some(PodReason::SupervisorGone);
        status.message =
            Some("the pod's supervisor is not running: `podctl delete` cleans the pod up".into());
    }
    Some(status)
}

/// Container names mapped to their status, init containers first.
pub fn container_statuses(status: &PodStatus) -> BTreeMap<String, ContainerStatus> {
    status
        .all_containers()
        .map(|s| (s.name.clone(), s.clone()))
        .collect()
}
