//! One container's life in its pod, as a state machine: the states a
//! container can be in ([`Life`]), and the rules that move it between them
//! as pure functions of an event and the state (exit → restart or stay, a
//! stop request → hook, signal, kill), unit-tested in tables below. The
//! supervisor's loop gathers the events and carries out what these decide.

use std::time::{Duration, Instant};

use crate::pod::RestartMode;
use crate::spec::RestartPolicy;
use crate::status;

/// The part a container plays in its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs to completion, in order, before the app containers.
    Init,
    /// An init container with `restartPolicy: Always`: starts in the init
    /// order, runs beside the apps, stops after them.
    Sidecar,
    App,
}

/// Where a container is in its life, in the current sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Not started in this sandbox yet: its turn has not come.
    Waiting,
    /// Added through the control channel: starts only when a client says so.
    Created,
    /// Running as `pid` since `since`; `stop` once it has been asked to stop.
    Running {
        pid: i32,
        since: Instant,
        stop: Option<Stopping>,
    },
    /// Ended with `exit_code`; started again at `until`.
    BackOff { until: Instant, exit_code: i32 },
    /// Ended with `exit_code`, not to be started again by the supervisor in
    /// this sandbox (a done init container, a policy that says no, a stop).
    Exited { exit_code: i32 },
}

/// A stop under way: how far it got and when it turns into SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopping {
    pub deadline: Instant,
    pub stage: StopStage,
    /// Asked by a client's `stop`/`remove`, not by the pod's own stop.
    pub by_client: bool,
}

/// The steps of stopping one container: its preStop hook (once), its stop
/// signal (once), SIGKILL at the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopStage {
    Asked,
    Hook { pid: i32 },
    HookDone,
    Signalled,
    Killed,
}

/// What a stop step asks the supervisor to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAction {
    RunHook,
    Signal,
    /// SIGKILL the container (and its hook, if one runs).
    Kill,
}

impl Life {
    /// The container's init pid while it runs.
    pub fn pid(&self) -> Option<i32> {
        match self {
            Life::Running { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        self.pid().is_some()
    }

    /// Due to be started again after its back-off.
    pub fn is_due(&self, now: Instant) -> bool {
        matches!(self, Life::BackOff { until, .. } if *until <= now)
    }

    /// The pid of the preStop hook under way.
    pub fn hook_pid(&self) -> Option<i32> {
        match self {
            Life::Running {
                stop:
                    Some(Stopping {
                        stage: StopStage::Hook { pid },
                        ..
                    }),
                ..
            } => Some(*pid),
            _ => None,
        }
    }

    /// The next restart, if one is waiting.
    pub fn restart_at(&self) -> Option<Instant> {
        match self {
            Life::BackOff { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// The deadline of a stop under way.
    pub fn stop_deadline(&self) -> Option<Instant> {
        match self {
            Life::Running { stop: Some(s), .. } => Some(s.deadline),
            _ => None,
        }
    }
}

/// Ask a container to stop by `deadline`. A running container starts its
/// stop (or keeps the one under way, with the earlier deadline); one
/// waiting out a back-off is not started again.
pub fn request_stop(life: Life, deadline: Instant, by_client: bool) -> Life {
    match life {
        Life::Running { pid, since, stop } => {
            let stop = match stop {
                None => Stopping {
                    deadline,
                    stage: StopStage::Asked,
                    by_client,
                },
                Some(s) => Stopping {
                    deadline: s.deadline.min(deadline),
                    by_client: s.by_client || by_client,
                    ..s
                },
            };
            Life::Running {
                pid,
                since,
                stop: Some(stop),
            }
        }
        Life::BackOff { exit_code, .. } => Life::Exited { exit_code },
        other => other,
    }
}

/// What a stop in `stop` needs now: SIGKILL past the deadline, else the
/// hook (when the container has one and it has not run), else the signal.
pub fn stop_action(stop: Stopping, has_hook: bool, now: Instant) -> Option<StopAction> {
    if now >= stop.deadline && stop.stage != StopStage::Killed {
        return Some(StopAction::Kill);
    }
    match stop.stage {
        StopStage::Asked if has_hook => Some(StopAction::RunHook),
        StopStage::Asked | StopStage::HookDone => Some(StopAction::Signal),
        StopStage::Hook { .. } | StopStage::Signalled | StopStage::Killed => None,
    }
}

/// The stage after `action` was carried out; `hook` is the hook's pid when
/// it could be started.
pub fn stage_after(action: StopAction, hook: Option<i32>) -> StopStage {
    match (action, hook) {
        (StopAction::RunHook, Some(pid)) => StopStage::Hook { pid },
        (StopAction::RunHook, None) => StopStage::HookDone,
        (StopAction::Signal, _) => StopStage::Signalled,
        (StopAction::Kill, _) => StopStage::Killed,
    }
}

/// The pod-wide rules that decide what follows an exit.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub policy: RestartPolicy,
    pub mode: RestartMode,
    pub backoff_initial: Duration,
    pub backoff_cap: Duration,
}

/// How a container's run ended, as the exit rule needs it.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub exit_code: i32,
    /// It was being stopped (by the pod's stop, a client or a sandbox rebuild).
    pub stopped: bool,
    /// How long it ran (none when it never started).
    pub ran_for: Option<Duration>,
}

/// What follows an exit: the new life and back-off step, and the delay
/// when it is restarted.
pub fn after_exit(
    rules: &Rules,
    kind: Kind,
    ended: Ended,
    step: u32,
    now: Instant,
) -> (Life, u32, Option<Duration>) {
    let code = ended.exit_code;
    let restart = !ended.stopped
        && rules.mode == RestartMode::Policy
        && match kind {
            // For init containers Always acts as OnFailure.
            Kind::Init => code != 0 && rules.policy != RestartPolicy::Never,
            Kind::Sidecar => true,
            Kind::App => status::should_restart(rules.policy, code),
        };
    if !restart {
        return (Life::Exited { exit_code: code }, step, None);
    }
    // A run long enough starts the back-off again, as in the kubelet.
    let step = if ended.ran_for.is_some_and(|d| d >= status::BACKOFF_RESET) {
        0
    } else {
        step
    };
    let delay = status::backoff_delay(rules.backoff_initial, rules.backoff_cap, step);
    (
        Life::BackOff {
            until: now + delay,
            exit_code: code,
        },
        step + 1,
        Some(delay),
    )
}

/// What the scheduler starts now, and whether the pod is initialized.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Due {
    pub start: Vec<usize>,
    pub initialized: bool,
}

/// Which containers to start now: restarts whose back-off is over; the
/// next init container (sidecars count as done once running, init
/// containers once they exited 0), one at a time, in order; then, once,
/// every app container.
pub fn due(containers: &[(Kind, Life)], initialized: bool, now: Instant) -> Due {
    let mut start: Vec<usize> = (0..containers.len())
        .filter(|&i| containers[i].1.is_due(now))
        .collect();
    if !initialized {
        for (i, (kind, life)) in containers.iter().enumerate() {
            match (kind, life) {
                (Kind::App, _) => continue,
                (Kind::Sidecar, Life::Running { .. } | Life::BackOff { .. }) => continue,
                (Kind::Init, Life::Exited { exit_code: 0 }) => continue,
                (Kind::Sidecar, Life::Waiting) => start.push(i),
                (Kind::Init, Life::Waiting) => {
                    start.push(i);
                    return Due {
                        start,
                        initialized: false,
                    };
                }
                _ => {
                    return Due {
                        start,
                        initialized: false,
                    };
                }
            }
        }
    }
    let first = !initialized;
    if first {
        start.extend(
            containers
                .iter()
                .enumerate()
                .filter(|(_, (kind, life))| *kind == Kind::App && *life == Life::Waiting)
                .map(|(i, _)| i),
        );
    }
    start.sort_unstable();
    start.dedup();
    Due {
        start,
        initialized: true,
    }
}

/// The stages of stopping a pod: apps (and init containers), then sidecars
/// one at a time in reverse order, then pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodStage {
    Apps,
    Sidecars,
    Pause,
    Done,
}

/// What a pod stop needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodStopAction {
    /// Ask the sidecar at this index to stop.
    StopSidecar(usize),
    KillPause,
}

/// The stage a pod stop is in, given what still runs, and what to do.
/// Past the pod's deadline every container is killed at once: sidecars and
/// pause no longer wait their turn (`delete --grace-period 0`).
pub fn pod_stop(
    stage: PodStage,
    containers: &[(Kind, Life)],
    pause_alive: bool,
    past_deadline: bool,
) -> (PodStage, Option<PodStopAction>) {
    if past_deadline && containers.iter().any(|(_, life)| life.is_running()) {
        let unasked = containers.iter().rposition(|(kind, life)| {
            *kind == Kind::Sidecar && matches!(life, Life::Running { stop: None, .. })
        });
        return match unasked {
            Some(i) => (stage, Some(PodStopAction::StopSidecar(i))),
            None => (stage, pause_alive.then_some(PodStopAction::KillPause)),
        };
    }
    let mut stage = stage;
    loop {
        match stage {
            PodStage::Apps => {
                if containers
                    .iter()
                    .any(|(kind, life)| *kind != Kind::Sidecar && life.is_running())
                {
                    return (stage, None);
                }
                stage = PodStage::Sidecars;
            }
            PodStage::Sidecars => {
                match containers
                    .iter()
                    .rposition(|(kind, life)| *kind == Kind::Sidecar && life.is_running())
                {
                    Some(i) => return (stage, Some(PodStopAction::StopSidecar(i))),
                    None if pause_alive => {
                        return (PodStage::Pause, Some(PodStopAction::KillPause));
                    }
                    None => stage = PodStage::Pause,
                }
            }
            PodStage::Pause if pause_alive => return (stage, None),
            PodStage::Pause | PodStage::Done => return (PodStage::Done, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The containers of a pod, as the rules see them.
    type Pod = Vec<(Kind, Life)>;

    fn rules(policy: RestartPolicy, mode: RestartMode) -> Rules {
        Rules {
            policy,
            mode,
            backoff_initial: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(300),
        }
    }

    fn ended(exit_code: i32, stopped: bool) -> Ended {
        Ended {
            exit_code,
            stopped,
            ran_for: Some(Duration::from_secs(1)),
        }
    }

    #[test]
    fn what_follows_an_exit() {
        use Kind::*;
        use RestartMode::*;
        use RestartPolicy::*;
        let now = Instant::now();
        // (policy, mode, kind, exit code, stopped) -> restarted?
        let table = [
            (Always, Policy, App, 0, false, true),
            (Always, Policy, App, 1, false, true),
            (OnFailure, Policy, App, 0, false, false),
            (OnFailure, Policy, App, 1, false, true),
            (Never, Policy, App, 1, false, false),
            (Always, Policy, Init, 0, false, false),
            (Always, Policy, Init, 1, false, true),
            (Never, Policy, Init, 1, false, false),
            (Never, Policy, Sidecar, 0, false, true),
            (Always, Policy, App, 1, true, false),
            (Always, Policy, Sidecar, 1, true, false),
            (Always, Client, App, 1, false, false),
            (Always, Client, Sidecar, 1, false, false),
        ];
        for (policy, mode, kind, code, stopped, restarted) in table {
            let (life, step, delay) =
                after_exit(&rules(policy, mode), kind, ended(code, stopped), 2, now);
            let row = format!("{policy:?} {mode:?} {kind:?} exit {code} stopped {stopped}");
            if restarted {
                assert_eq!(delay, Some(Duration::from_secs(40)), "{row}");
                assert_eq!(step, 3, "{row}");
                assert_eq!(
                    life,
                    Life::BackOff {
                        until: now + Duration::from_secs(40),
                        exit_code: code
                    },
                    "{row}"
                );
            } else {
                assert_eq!(
                    (life, step, delay),
                    (Life::Exited { exit_code: code }, 2, None),
                    "{row}"
                );
            }
        }
    }

    #[test]
    fn a_long_run_resets_the_back_off() {
        let long = Ended {
            exit_code: 1,
            stopped: false,
            ran_for: Some(status::BACKOFF_RESET),
        };
        let (_, step, delay) = after_exit(
            &rules(RestartPolicy::Always, RestartMode::Policy),
            Kind::App,
            long,
            5,
            Instant::now(),
        );
        assert_eq!((step, delay), (1, Some(Duration::from_secs(10))));
    }

    #[test]
    fn the_steps_of_a_stop() {
        let now = Instant::now();
        let later = now + Duration::from_secs(30);
        let stop = |stage| Stopping {
            deadline: later,
            stage,
            by_client: false,
        };
        use StopAction::*;
        use StopStage::*;
        // (stage, has hook, at) -> action
        let table = [
            (Asked, true, now, Some(RunHook)),
            (Asked, false, now, Some(Signal)),
            (Hook { pid: 7 }, true, now, None),
            (HookDone, true, now, Some(Signal)),
            (Signalled, true, now, None),
            (Signalled, true, later, Some(Kill)),
            (Hook { pid: 7 }, true, later, Some(Kill)),
            (Asked, true, later, Some(Kill)),
            (Killed, false, later, None),
        ];
        for (stage, hook, at, action) in table {
            assert_eq!(
                stop_action(stop(stage), hook, at),
                action,
                "{stage:?} hook {hook}"
            );
        }
        assert_eq!(stage_after(RunHook, Some(9)), Hook { pid: 9 });
        assert_eq!(stage_after(RunHook, None), HookDone);
        assert_eq!(stage_after(Signal, None), Signalled);
        assert_eq!(stage_after(Kill, None), Killed);
    }

    #[test]
    fn a_stop_request_keeps_the_earlier_deadline() {
        let now = Instant::now();
        let running = Life::Running {
            pid: 5,
            since: now,
            stop: None,
        };
        let a = request_stop(running, now + Duration::from_secs(30), false);
        let b = request_stop(a, now + Duration::from_secs(5), true);
        assert_eq!(b.stop_deadline(), Some(now + Duration::from_secs(5)));
        let c = request_stop(b, now + Duration::from_secs(60), false);
        assert_eq!(c.stop_deadline(), Some(now + Duration::from_secs(5)));
        assert!(matches!(
            c,
            Life::Running {
                stop: Some(Stopping {
                    by_client: true,
                    ..
                }),
                ..
            }
        ));
        let backoff = Life::BackOff {
            until: now,
            exit_code: 3,
        };
        assert_eq!(
            request_stop(backoff, now, false),
            Life::Exited { exit_code: 3 }
        );
        assert_eq!(request_stop(Life::Waiting, now, false), Life::Waiting);
    }

    #[test]
    fn the_start_order() {
        use Kind::*;
        let now = Instant::now();
        let running = Life::Running {
            pid: 1,
            since: now,
            stop: None,
        };
        let due_now = Life::BackOff {
            until: now,
            exit_code: 1,
        };
        let later = Life::BackOff {
            until: now + Duration::from_secs(5),
            exit_code: 1,
        };
        let done = Life::Exited { exit_code: 0 };
        let failed = Life::Exited { exit_code: 1 };
        let w = Life::Waiting;
        let table: Vec<(Pod, bool, Vec<usize>, bool)> = vec![
            // The first init container only.
            (vec![(Init, w), (Init, w), (App, w)], false, vec![0], false),
            // It runs: nothing more.
            (
                vec![(Init, running), (Init, w), (App, w)],
                false,
                vec![],
                false,
            ),
            // Done: the next one.
            (
                vec![(Init, done), (Init, w), (App, w)],
                false,
                vec![1],
                false,
            ),
            // A sidecar starts and the next one follows at once.
            (
                vec![(Sidecar, w), (Init, w), (App, w)],
                false,
                vec![0, 1],
                false,
            ),
            // A running sidecar and done inits: every app, once.
            (
                vec![(Sidecar, running), (Init, done), (App, w), (App, w)],
                false,
                vec![2, 3],
                true,
            ),
            // A failed init container holds everything back.
            (vec![(Init, failed), (App, w)], false, vec![], false),
            // Initialized: apps are not started again; due restarts are.
            (
                vec![(App, due_now), (App, later), (App, w)],
                true,
                vec![0],
                true,
            ),
            // A client's container waits for its start.
            (
                vec![(App, running), (App, Life::Created)],
                true,
                vec![],
                true,
            ),
            (vec![(App, Life::Created)], false, vec![], true),
        ];
        for (containers, initialized, start, now_initialized) in table {
            assert_eq!(
                due(&containers, initialized, now),
                Due {
                    start: start.clone(),
                    initialized: now_initialized
                },
                "{containers:?}"
            );
        }
    }

    #[test]
    fn the_stages_of_a_pod_stop() {
        use Kind::*;
        use PodStage::*;
        use PodStopAction::*;
        let running = Life::Running {
            pid: 1,
            since: Instant::now(),
            stop: None,
        };
        let gone = Life::Exited { exit_code: 0 };
        let table: Vec<(PodStage, Pod, bool, PodStage, Option<PodStopAction>)> = vec![
            (
                Apps,
                vec![(Sidecar, running), (App, running)],
                true,
                Apps,
                None,
            ),
            (
                Apps,
                vec![(Sidecar, running), (Sidecar, running), (App, gone)],
                true,
                Sidecars,
                Some(StopSidecar(1)),
            ),
            (
                Sidecars,
                vec![(Sidecar, running), (Sidecar, gone)],
                true,
                Sidecars,
                Some(StopSidecar(0)),
            ),
            (
                Sidecars,
                vec![(Sidecar, gone), (App, gone)],
                true,
                Pause,
                Some(KillPause),
            ),
            (Apps, vec![(App, gone)], false, Done, None),
            (Pause, vec![], true, Pause, None),
            (Pause, vec![], false, Done, None),
        ];
        for (stage, containers, pause, next, action) in table {
            assert_eq!(
                pod_stop(stage, &containers, pause, false),
                (next, action),
                "{stage:?} {containers:?}"
            );
        }
        // Past the deadline: the sidecars are asked at once, then pause is
        // killed while the containers are still dying.
        let killed = Life::Running {
            pid: 1,
            since: Instant::now(),
            stop: Some(Stopping {
                deadline: Instant::now(),
                stage: StopStage::Killed,
                by_client: false,
            }),
        };
        let past: Vec<(Pod, bool, PodStage, Option<PodStopAction>)> = vec![
            (
                vec![(Sidecar, running), (App, killed)],
                true,
                Apps,
                Some(StopSidecar(0)),
            ),
            (
                vec![(Sidecar, killed), (App, killed)],
                true,
                Apps,
                Some(KillPause),
            ),
            (vec![(App, killed)], false, Apps, None),
            (vec![(App, gone)], true, Pause, Some(KillPause)),
            (vec![(App, gone)], false, Done, None),
        ];
        for (containers, pause, next, action) in past {
            assert_eq!(
                pod_stop(Apps, &containers, pause, true),
                (next, action),
                "{containers:?}"
            );
        }
    }
}
