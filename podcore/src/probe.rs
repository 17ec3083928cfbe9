//! Liveness, readiness and startup probes: the counting rules (pure) and
//! the network checks, run from the pod's own network namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::spec::{Probe, ProbeAction};

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "Startup",
            Self::Liveness => "Liveness",
            Self::Readiness => "Readiness",
        }
    }
}

/// What a probe result changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Nothing,
    /// The readiness probe's verdict changed.
    Ready(bool),
    /// The startup probe passed: liveness and readiness probes may run.
    Started,
    /// A liveness or startup probe failed `failureThreshold` times: restart.
    Kill,
}

/// One probe of one running container.
#[derive(Debug, Clone)]
pub struct ProbeState {
    pub kind: Kind,
    pub spec: Probe,
    pub next: Instant,
    pub successes: u32,
    pub failures: u32,
    /// An exec probe under way: its pid and deadline.
    pub running: Option<(i32, Instant)>,
    /// Startup: passed. Readiness: ready.
    pub passed: bool,
}

impl ProbeState {
    /// A probe of a container started at `started`.
    pub fn new(kind: Kind, spec: Probe, started: Instant) -> Self {
        let next = started + Duration::from_secs(spec.initial_delay_seconds);
        Self {
            kind,
            spec,
            next,
            successes: 0,
            failures: 0,
            running: None,
            passed: false,
        }
    }

    /// Count a result by Kubernetes' thresholds and schedule the next run.
    pub fn record(&mut self, ok: bool, now: Instant) -> Outcome {
        self.next = now + Duration::from_secs(self.spec.period_seconds);
        self.running = None;
        if ok {
            self.failures = 0;
            self.successes += 1;
            if self.successes >= self.spec.success_threshold && !self.passed {
                self.passed = true;
                return match self.kind {
                    Kind::Readiness => Outcome::Ready(true),
                    Kind::Startup => Outcome::Started,
                    Kind::Liveness => Outcome::Nothing,
                };
            }
            return Outcome::Nothing;
        }
        self.successes = 0;
        self.failures += 1;
        if self.failures < self.spec.failure_threshold {
            return Outcome::Nothing;
        }
        match self.kind {
            Kind::Readiness if self.passed => {
                self.passed = false;
                Outcome::Ready(false)
            }
            Kind::Readiness => Outcome::Nothing,
            Kind::Liveness | Kind::Startup => Outcome::Kill,
        }
    }
}

/// Run a tcpSocket or httpGet probe against the pod's loopback from inside
/// the network namespace of `pause_pid`; blocks at most `timeout`.
pub fn check_network(pause_pid: i32, action: &ProbeAction, timeout: Duration) -> bool {
    let own = std::fs::File::open("/proc/self/ns/net");
    let target = std::fs::File::open(format!("/proc/{pause_pid}/ns/net"));
    let (Ok(own), Ok(target)) = (own, target) else {
        return false;
    };
    if nix::sched::setns(&target, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
        return false;
    }
    let result = match action {
        ProbeAction::TcpSocket { port } => connect(*port, timeout).is_some(),
        ProbeAction::HttpGet { port, path } => http_ok(*port, path, timeout),
        // Run as processes of their own (see the supervisor's probes).
        ProbeAction::Exec(_) | ProbeAction::Grpc { .. } => false,
    };
    if let Err(e) = nix::sched::setns(&own, nix::sched::CloneFlags::CLONE_NEWNET) {
        tracing::error!(error = %e, "cannot return to the supervisor's network namespace");
    }
    result
}

fn connect(port: u16, timeout: Duration) -> Option<TcpStream> {
    let stream =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    Some(stream)
}

/// An HTTP/1.0 GET: a status of 200 to 399 passes.
fn http_ok(port: u16, path: &str, timeout: Duration) -> bool {
    let Some(mut stream) = connect(port, timeout) else {
        return false;
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: localhost:{port}\r\nUser-Agent: podctl-probe\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap_or(0);
    status_ok(&String::from_utf8_lossy(&head[..n]))
}

/// Whether an HTTP status line is a 2xx or 3xx answer.
fn status_ok(head: &str) -> bool {
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| (200..400).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: u32, failure: u32) -> Probe {
        Probe {
            action: ProbeAction::Exec(vec!["true".into()]),
            initial_delay_seconds: 0,
            period_seconds: 10,
            timeout_seconds: 1,
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn thresholds_as_kubernetes_counts_them() {
        let now = Instant::now();
        let mut liveness = ProbeState::new(Kind::Liveness, probe(1, 3), now);
        assert_eq!(liveness.record(false, now), Outcome::Nothing);
        assert_eq!(liveness.record(false, now), Outcome::Nothing);
        assert_eq!(
            liveness.record(true, now),
            Outcome::Nothing,
            "a success resets the count"
        );
        assert_eq!(liveness.record(false, now), Outcome::Nothing);
        assert_eq!(liveness.record(false, now), Outcome::Nothing);
        assert_eq!(liveness.record(false, now), Outcome::Kill);
        assert_eq!(liveness.next, now + Duration::from_secs(10));

        let mut readiness = ProbeState::new(Kind::Readiness, probe(2, 1), now);
        assert_eq!(readiness.record(true, now), Outcome::Nothing);
        assert_eq!(readiness.record(true, now), Outcome::Ready(true));
        assert_eq!(readiness.record(false, now), Outcome::Ready(false));

        let mut startup = ProbeState::new(Kind::Startup, probe(1, 2), now);
        assert_eq!(startup.record(true, now), Outcome::Started);
    }

    #[test]
    fn http_status_lines() {
        assert!(status_ok("HTTP/1.0 200 OK\r\n"));
        assert!(status_ok("HTTP/1.1 302 Found\r\n"));
        assert!(!status_ok("HTTP/1.1 404 Not Found\r\n"));
        assert!(!status_ok(""));
    }
}
