//! How anyone talks to a pod's supervisor: who it is ([`lock`]), what may
//! be said ([`protocol`]: typed, versioned requests and answers) and how
//! ([`client`]: one JSON line each way over the unix socket
//! `control.sock` in the pod's folder, mode 0600, answered to root only).
//!
//! Every process that needs something of a running pod (podctl, a future
//! CRI server) asks its supervisor: only the supervisor, a single-threaded
//! process, creates containers and runs processes in them through
//! libcontainer, and only it can read their exit codes.

pub mod client;
pub mod lock;
pub mod protocol;

pub use client::{Client, ClientError};
pub use lock::{LockError, SupervisorLock, supervisor_pid};
pub use protocol::{ExecStdio, Request, Response, StartReport, VERSION};
