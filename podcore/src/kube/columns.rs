//! What `kubectl get pods` shows in its READY, STATUS and RESTARTS columns,
//! by kubectl's own rules (`printPod` in kubectl's printers), so that a pod
//! reads the same in `podctl get pods` as in a cluster.

use crate::spec::PodSpec;
use crate::status::{ContainerState, PodStatus, TerminatedReason, WaitingReason};

/// The READY column, `ready/total`: app containers and native sidecars
/// (restartable init containers) count; plain init containers do not.
pub fn ready(spec: &PodSpec, status: Option<&PodStatus>) -> String {
    let Some(status) = status else {
        return format!("0/{}", spec.containers.len());
    };
    let sidecars = spec
        .init_containers
        .iter()
        .filter(|c| c.is_sidecar())
        .count();
    let total = status.containers.len() + sidecars;
    let ready = status.containers.iter().filter(|c| c.ready).count()
        + status
            .init_containers
            .iter()
            .zip(&spec.init_containers)
            .filter(|(st, sp)| sp.is_sidecar() && st.ready)
            .count();
    format!("{ready}/{total}")
}

/// The RESTARTS column: restarts of every container, init containers included.
pub fn restarts(status: Option<&PodStatus>) -> u32 {
    status.map_or(0, |s| s.all_containers().map(|c| c.restart_count).sum())
}

/// The STATUS column: `Terminating`, the pod's reason, the first init
/// container's trouble (`Init:1/2`, `Init:CrashLoopBackOff`), the last app
/// container's waiting or terminated reason, else the phase.
pub fn status(spec: &PodSpec, status: Option<&PodStatus>) -> String {
    let Some(status) = status else {
        return "Pending".into();
    };
    if status.terminating {
        return "Terminating".into();
    }
    if status.phase == crate::status::Phase::Unknown {
        return "Unknown".into();
    }
    let mut reason = status
        .reason
        .map_or_else(|| status.phase.as_str().to_string(), |r| r.to_string());
    let total_init = spec.init_containers.len();
    let mut initializing = false;
    for (i, c) in status.init_containers.iter().enumerate() {
        let sidecar = spec.init_containers.get(i).is_some_and(|s| s.is_sidecar());
        match &c.state {
            ContainerState::Terminated(t) if t.exit_code == 0 => continue,
            ContainerState::Running { .. } if sidecar => continue,
            ContainerState::Terminated(t) => reason = format!("Init:{}", t.reason),
            ContainerState::Waiting { reason: r, .. }
                if !matches!(
                    r,
                    WaitingReason::PodInitializing | WaitingReason::ContainerCreating
                ) =>
            {
                reason = format!("Init:{r}")
            }
            _ => reason = format!("Init:{i}/{total_init}"),
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut running = false;
        for c in status.containers.iter().rev() {
            match &c.state {
                ContainerState::Waiting { reason: r, .. } => reason = r.to_string(),
                ContainerState::Terminated(t) => reason = t.reason.to_string(),
                ContainerState::Running { .. } => running = true,
            }
        }
        if reason == TerminatedReason::Completed.to_string() && running {
            reason = "Running".into();
        }
        if status
            .containers
            .iter()
            .all(|c| matches!(c.state, ContainerState::Running { .. }))
            && !status.containers.is_empty()
        {
            reason = "Running".into();
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Format, QosClass};
    use crate::status::{ContainerStatus, Phase, SandboxStatus, Terminated};

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - {name: setup, image: busybox}
  - {name: proxy, image: busybox, restartPolicy: Always}
  containers:
  - {name: a, image: busybox}
  - {name: b, image: busybox}
";

    fn spec() -> PodSpec {
        crate::spec::parse(POD, Format::Yaml)
            .expect("the test pod parses")
            .remove(0)
            .pod
    }

    fn waiting(reason: WaitingReason) -> ContainerState {
        ContainerState::Waiting {
            reason,
            message: None,
        }
    }

    fn running() -> ContainerState {
        ContainerState::Running {
            started_at: chrono::Utc::now(),
        }
    }

    fn ended(exit_code: i32, reason: TerminatedReason) -> ContainerState {
        ContainerState::Terminated(Terminated {
            exit_code,
            signal: None,
            reason,
            message: None,
            started_at: None,
            finished_at: chrono::Utc::now(),
        })
    }

    fn container(name: &str, state: ContainerState, ready: bool, restarts: u32) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            image: "busybox".into(),
            image_id: String::new(),
            container_id: String::new(),
            state,
            last_state: None,
            restart_count: restarts,
            pid: None,
            ready,
            started: ready,
        }
    }

    fn pod(phase: Phase, init: [ContainerStatus; 2], apps: [ContainerStatus; 2]) -> PodStatus {
        PodStatus {
            phase,
            reason: None,
            message: None,
            start_time: None,
            pod_ip: None,
            pod_ips: Vec::new(),
            host_ip: None,
            qos_class: QosClass::BestEffort,
            terminating: false,
            conditions: Vec::new(),
            sandbox: SandboxStatus {
                pause_pid: None,
                container_id: String::new(),
                restarts: 0,
            },
            init_containers: init.to_vec(),
            containers: apps.to_vec(),
            events: Vec::new(),
        }
    }

    fn inits_done() -> [ContainerStatus; 2] {
        [
            container("setup", ended(0, TerminatedReason::Completed), false, 0),
            container("proxy", running(), true, 1),
        ]
    }

    #[test]
    fn no_status_yet_is_pending_with_nothing_ready() {
        let spec = spec();
        assert_eq!(status(&spec, None), "Pending");
        assert_eq!(ready(&spec, None), "0/2");
        assert_eq!(restarts(None), 0);
    }

    #[test]
    fn sidecars_count_in_ready_and_every_restart_counts() {
        let spec = spec();
        let s = pod(
            Phase::Running,
            inits_done(),
            [
                container("a", running(), true, 2),
                container("b", running(), false, 0),
            ],
        );
        assert_eq!(ready(&spec, Some(&s)), "2/3");
        assert_eq!(restarts(Some(&s)), 3);
        assert_eq!(status(&spec, Some(&s)), "Running");
    }

    /// The pod while its first init container is in `setup`.
    fn initializing(phase: Phase, setup: ContainerStatus) -> PodStatus {
        let pending = || waiting(WaitingReason::PodInitializing);
        let proxy = container("proxy", pending(), false, 0);
        let app = |name| container(name, pending(), false, 0);
        pod(phase, [setup, proxy], [app("a"), app("b")])
    }

    /// The pod once its init containers are done, its apps in `a` and `b`.
    fn started(phase: Phase, a: ContainerState, b: ContainerState) -> PodStatus {
        let apps = [container("a", a, false, 0), container("b", b, false, 0)];
        pod(phase, inits_done(), apps)
    }

    #[test]
    fn status_column_rules() {
        let spec = spec();
        let done = || ended(0, TerminatedReason::Completed);
        let setup = |state, restarts| container("setup", state, false, restarts);
        let cases: Vec<(PodStatus, &str)> = vec![
            (
                initializing(Phase::Pending, setup(running(), 0)),
                "Init:0/2",
            ),
            (
                initializing(
                    Phase::Pending,
                    setup(waiting(WaitingReason::CrashLoopBackOff), 3),
                ),
                "Init:CrashLoopBackOff",
            ),
            (
                initializing(Phase::Failed, setup(ended(1, TerminatedReason::Error), 0)),
                "Init:Error",
            ),
            (
                started(
                    Phase::Running,
                    running(),
                    waiting(WaitingReason::CrashLoopBackOff),
                ),
                "CrashLoopBackOff",
            ),
            (started(Phase::Running, done(), running()), "Running"),
            (started(Phase::Succeeded, done(), done()), "Completed"),
            // kubectl shows the first container's reason.
            (
                started(
                    Phase::Failed,
                    done(),
                    ended(137, TerminatedReason::OomKilled),
                ),
                "Completed",
            ),
        ];
        for (i, (s, want)) in cases.iter().enumerate() {
            assert_eq!(status(&spec, Some(s)), *want, "case {i}");
        }
        let mut gone = started(Phase::Unknown, running(), running());
        assert_eq!(status(&spec, Some(&gone)), "Unknown");
        gone.phase = Phase::Running;
        gone.terminating = true;
        assert_eq!(status(&spec, Some(&gone)), "Terminating");
    }
}
