//! The supervisor's control protocol: one request per connection, one JSON
//! line each way, both carrying the protocol [`VERSION`]. A request of
//! another version, an unknown request or a malformed line is answered
//! with [`Response::Error`] and changes nothing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::status::PodStatus;

/// The protocol's version; a supervisor answers only its own.
pub const VERSION: u32 = 1;

/// The longest request line a supervisor reads (a container spec fits many times).
pub const MAX_REQUEST: usize = 1 << 20;

/// A request or an answer with the protocol version beside it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    #[serde(flatten)]
    pub message: T,
}

/// What a client may ask of a pod's supervisor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The pod's status as the supervisor knows it now.
    Status,
    /// Stop the pod (and remove it, once podctl finishes the delete):
    /// `grace_seconds` between each container's stop signal and SIGKILL,
    /// the pod's own grace period when absent. Answered at once with `Done`.
    StopPod { grace_seconds: Option<u64> },
    /// Add a container to the pod, not started: a Kubernetes container
    /// object, checked as it would be in the pod's manifest.
    Add { container: serde_json::Value },
    /// Start (or start again) a container that is not running.
    Start { container: String },
    /// Stop a running container: its preStop hook and stop signal, SIGKILL
    /// after `timeout_seconds`; answered once it has exited. The supervisor
    /// does not restart it.
    Stop {
        container: String,
        timeout_seconds: u64,
    },
    /// Remove a container (killed first if it runs): its state, root
    /// filesystem and logs. Answered once it is gone.
    Remove { container: String },
    /// Run `command` in a running container as its own process runs (user,
    /// capabilities, seccomp, cgroup, namespaces); answered when it exits.
    Exec {
        container: String,
        command: Vec<String>,
        #[serde(default)]
        stdio: ExecStdio,
        /// Killed after this long (exit code 137), if given.
        #[serde(default)]
        timeout_seconds: Option<u64>,
    },
    /// Attach to a running container: answered with `Attached`, then its
    /// output as it comes (raw bytes, stdout and stderr, or its terminal's)
    /// on the same connection until it ends. With `stdin`, its input end
    /// rides along with the answer (`SCM_RIGHTS`): its stdin pipe (handed
    /// over for good with `stdinOnce`) or its terminal.
    Attach {
        container: String,
        #[serde(default)]
        stdin: bool,
    },
}

/// Where an exec'd process's standard streams go.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ExecStdio {
    /// /dev/null in; stdout and stderr collected and returned in the answer
    /// (at most [`MAX_CAPTURE`] bytes each).
    #[default]
    Captured,
    /// The three descriptors sent with the request (`SCM_RIGHTS`): stdin,
    /// stdout, stderr.
    Passed,
    /// A new pseudo-terminal whose master end is sent to this listening socket.
    Terminal { console_socket: PathBuf },
}

/// The most output of each stream an exec answer carries.
pub const MAX_CAPTURE: usize = 16 << 20;

/// A supervisor's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Status {
        status: Box<PodStatus>,
    },
    /// The request was carried out.
    Done,
    /// A container started, as `pid`.
    Started {
        pid: i32,
    },
    /// An exec'd process ended.
    Exec {
        exit_code: i32,
        /// Captured output (empty unless [`ExecStdio::Captured`]).
        stdout: String,
        stderr: String,
        /// Output past [`MAX_CAPTURE`] was dropped.
        truncated: bool,
    },
    /// Attached: the container's output follows; its input end rides
    /// along when it was asked for.
    Attached {
        tty: bool,
    },
    /// The request was refused or failed; nothing was changed unless it says so.
    Error {
        message: String,
    },
}

/// What a new supervisor tells the podctl that started it, once (a JSON
/// line on the pipe it was handed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StartReport {
    /// The pod's containers were started (or the pod already ended).
    Started,
    /// The pod could not be set up; everything it made was undone.
    Failed { error: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_json_lines() {
        let line = r#"{"version":1,"request":"stop","container":"web","timeout_seconds":5}"#;
        let parsed: Envelope<Request> = serde_json::from_str(line).unwrap();
        assert_eq!(parsed.version, 1);
        assert_eq!(
            parsed.message,
            Request::Stop {
                container: "web".into(),
                timeout_seconds: 5
            }
        );
        let exec = r#"{"version":1,"request":"exec","container":"c","command":["true"]}"#;
        let parsed: Envelope<Request> = serde_json::from_str(exec).unwrap();
        assert!(matches!(
            parsed.message,
            Request::Exec {
                stdio: ExecStdio::Captured,
                timeout_seconds: None,
                ..
            }
        ));
        assert!(
            serde_json::from_str::<Envelope<Request>>(r#"{"version":1,"request":"fly"}"#).is_err()
        );
        let answer = serde_json::to_string(&Envelope {
            version: VERSION,
            message: Response::Error {
                message: "no".into(),
            },
        })
        .unwrap();
        assert_eq!(answer, r#"{"version":1,"response":"error","message":"no"}"#);
    }
}
