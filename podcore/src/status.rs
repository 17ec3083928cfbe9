//! Pod and container status, in Kubernetes' terms, and the kubelet's rules
//! that derive the pod's phase from its containers (pure functions).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spec::RestartPolicy;

/// The pod's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Unknown => "Unknown",
        }
    }
}

/// Why a container is waiting (the kubelet's words).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
pub enum WaitingReason {
    /// Its turn has not come, or it is being created.
    ContainerCreating,
    /// An app container waiting for the init containers.
    PodInitializing,
    /// Waiting out the back-off before a restart.
    CrashLoopBackOff,
    /// Added through the control channel, waiting for its `start`.
    Created,
    /// Its image could not be pulled.
    ErrImagePull,
    /// Its image could not be pulled again: waiting out the back-off.
    ImagePullBackOff,
    /// Its environment names a ConfigMap, Secret or key that is missing,
    /// or its settings cannot be met: retried after the back-off.
    CreateContainerConfigError,
    /// It could not be made (a mount, a host path, its spec): retried after
    /// the back-off.
    CreateContainerError,
}

/// Why a container ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
pub enum TerminatedReason {
    Completed,
    Error,
    #[serde(rename = "OOMKilled")]
    #[strum(serialize = "OOMKilled")]
    OomKilled,
    /// It could not be created or started.
    StartError,
}

/// A finished run of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: TerminatedReason,
    pub message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
}

/// A container's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Waiting {
        reason: WaitingReason,
        message: Option<String>,
    },
    Running {
        started_at: DateTime<Utc>,
    },
    Terminated(Terminated),
}

/// One container's status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// libcontainer's id.
    pub container_id: String,
    pub state: ContainerState,
    pub last_state: Option<Terminated>,
    pub restart_count: u32,
    pub pid: Option<i32>,
    pub ready: bool,
    pub started: bool,
}

/// The pod's conditions, in the order the kubelet lists them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
pub enum ConditionType {
    PodScheduled,
    Initialized,
    ContainersReady,
    Ready,
}

/// A condition with the time it last changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Condition {
    pub kind: ConditionType,
    pub status: bool,
    pub last_transition_time: DateTime<Utc>,
}

/// How notable an event is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
pub enum EventType {
    Normal,
    Warning,
}

/// Why a pod is in its phase, when the phase alone does not say.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
pub enum PodReason {
    /// pause died and the sandbox could not (or, under `Never`, would not) be made again.
    SandboxDied,
    /// `podctl recover` could not bring the pod back.
    RecoveryFailed,
    /// The supervisor of an unfinished pod is gone.
    SupervisorGone,
    /// The pod's record cannot be read.
    RecordUnreadable,
}

/// Something that happened to the pod (`podctl describe` shows them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    pub kind: EventType,
    pub reason: String,
    pub message: String,
}

/// The sandbox: the pause container and its namespaces.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SandboxStatus {
    pub pause_pid: Option<i32>,
    pub container_id: String,
    /// How often the sandbox was recreated after pause died.
    pub restarts: u32,
}

/// Everything `podctl get/describe` shows of a pod.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodStatus {
    pub phase: Phase,
    pub reason: Option<PodReason>,
    pub message: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub pod_ip: Option<String>,
    /// Every address of the pod, `pod_ip` first.
    #[serde(default)]
    pub pod_ips: Vec<String>,
    /// The node's address (`status.hostIP`).
    #[serde(default)]
    pub host_ip: Option<String>,
    pub qos_class: crate::spec::QosClass,
    pub terminating: bool,
    pub conditions: Vec<Condition>,
    pub sandbox: SandboxStatus,
    pub init_containers: Vec<ContainerStatus>,
    pub containers: Vec<ContainerStatus>,
    pub events: Vec<Event>,
}

impl PodStatus {
    /// Every container's status, init containers first.
    pub fn all_containers(&self) -> impl Iterator<Item = &ContainerStatus> {
        self.init_containers.iter().chain(&self.containers)
    }

    /// The status of the container `name`, init containers included.
    pub fn container(&self, name: &str) -> Option<&ContainerStatus> {
        self.all_containers().find(|c| c.name == name)
    }
}

/// The kubelet's phase rule (`getPhase`), over the facts it reads.
///
/// `init_failed_never`: an init container failed under `restartPolicy: Never`.
/// `initializing`: init containers are still pending and no app container started.
pub fn pod_phase(
    policy: RestartPolicy,
    init_failed_never: bool,
    initializing: bool,
    apps: &[ContainerState],
) -> Phase {
    if init_failed_never {
        return Phase::Failed;
    }
    // A container waiting to be restarted counts as stopped, as in the kubelet
    // (it has a last terminated state), not as waiting.
    let restarting = |s: &&ContainerState| {
        matches!(
            s,
            ContainerState::Waiting {
                reason: WaitingReason::CrashLoopBackOff
                    | WaitingReason::ErrImagePull
                    | WaitingReason::ImagePullBackOff,
                ..
            }
        )
    };
    let waiting = apps
        .iter()
        .filter(|s| matches!(s, ContainerState::Waiting { .. }))
        .filter(|s| !restarting(s))
        .count();
    let running = apps
        .iter()
        .filter(|s| matches!(s, ContainerState::Running { .. }))
        .count();
    let terminated: Vec<&Terminated> = apps
        .iter()
        .filter_map(|s| match s {
            ContainerState::Terminated(t) => Some(t),
            _ => None,
        })
        .collect();
    let succeeded = terminated.iter().filter(|t| t.exit_code == 0).count();
    let failed = terminated.len() - succeeded + apps.iter().filter(restarting).count();
    if initializing || waiting > 0 {
        return Phase::Pending;
    }
    if running > 0 {
        return Phase::Running;
    }
    // All stopped.
    match policy {
        RestartPolicy::Always => Phase::Running,
        _ if failed == 0 => Phase::Succeeded,
        RestartPolicy::Never => Phase::Failed,
        RestartPolicy::OnFailure => Phase::Running,
    }
}

/// Whether a container that exited with `exit_code` is restarted under `policy`.
pub fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

/// The kubelet's crash-loop back-off: `initial`, doubling per restart, at most
/// `cap`; `restarts` is how many restarts came before this one (0 for the first).
pub fn backoff_delay(
    initial: std::time::Duration,
    cap: std::time::Duration,
    restarts: u32,
) -> std::time::Duration {
    let factor = 1u32.checked_shl(restarts.min(31)).unwrap_or(u32::MAX);
    initial.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// How long a container must run for its back-off to start again from `initial`.
pub const BACKOFF_RESET: std::time::Duration = std::time::Duration::from_secs(600);

/// The reason of a terminated container: Completed for exit 0, Error otherwise.
pub fn exit_reason(exit_code: i32) -> TerminatedReason {
    if exit_code == 0 {
        TerminatedReason::Completed
    } else {
        TerminatedReason::Error
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn terminated(code: i32) -> ContainerState {
        ContainerState::Terminated(Terminated {
            exit_code: code,
            signal: None,
            reason: exit_reason(code),
            message: None,
            started_at: None,
            finished_at: Utc::now(),
        })
    }

    fn running() -> ContainerState {
        ContainerState::Running {
            started_at: Utc::now(),
        }
    }

    fn waiting() -> ContainerState {
        ContainerState::Waiting {
            reason: WaitingReason::CrashLoopBackOff,
            message: None,
        }
    }

    #[test]
    fn the_kubelets_phase_table() {
        use RestartPolicy::*;
        assert_eq!(pod_phase(Never, true, false, &[running()]), Phase::Failed);
        assert_eq!(pod_phase(Always, false, true, &[]), Phase::Pending);
        let creating = ContainerState::Waiting {
            reason: WaitingReason::ContainerCreating,
            message: None,
        };
        // (policy, app container states, phase), past init containers.
        let table = [
            (Always, vec![running(), creating], Phase::Pending),
            (Always, vec![running(), waiting()], Phase::Running),
            (Always, vec![waiting()], Phase::Running),
            (OnFailure, vec![waiting(), terminated(0)], Phase::Running),
            (Always, vec![running(), terminated(1)], Phase::Running),
            (Always, vec![terminated(0), terminated(1)], Phase::Running),
            (
                OnFailure,
                vec![terminated(0), terminated(0)],
                Phase::Succeeded,
            ),
            (Never, vec![terminated(0), terminated(3)], Phase::Failed),
            (
                OnFailure,
                vec![terminated(0), terminated(3)],
                Phase::Running,
            ),
            (Never, vec![terminated(0)], Phase::Succeeded),
        ];
        for (policy, apps, phase) in table {
            assert_eq!(
                pod_phase(policy, false, false, &apps),
                phase,
                "{policy:?} {apps:?}"
            );
        }
    }

    #[test]
    fn restart_policies() {
        assert!(should_restart(RestartPolicy::Always, 0));
        assert!(should_restart(RestartPolicy::OnFailure, 3));
        assert!(!should_restart(RestartPolicy::OnFailure, 0));
        assert!(!should_restart(RestartPolicy::Never, 3));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (initial, cap) = (Duration::from_secs(10), Duration::from_secs(300));
        let delays: Vec<u64> = (0..8)
            .map(|n| backoff_delay(initial, cap, n).as_secs())
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff_delay(initial, cap, 1000), cap);
    }
}
