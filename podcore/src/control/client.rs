//! The client end of a supervisor's control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::pod::PodPaths;

use super::protocol::{Envelope, Request, Response, VERSION};

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens on the pod's control socket: its supervisor is gone.
    #[error("the pod's supervisor is not running ({0})")]
    NoSupervisor(std::io::Error),
    #[error("talk to the pod's supervisor: {0}")]
    Io(#[from] std::io::Error),
    #[error("the pod's supervisor gave no answer")]
    NoAnswer,
    #[error("the pod's supervisor answered in a way this podctl does not read: {0}")]
    Protocol(String),
    /// The supervisor refused or failed the request.
    #[error("{0}")]
    Refused(String),
}

/// One connection to a pod's supervisor: one request, one answer.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connect to the supervisor of the pod at `paths`.
    pub fn connect(paths: &PodPaths) -> Result<Self, ClientError> {
        let stream =
            UnixStream::connect(paths.control_socket()).map_err(ClientError::NoSupervisor)?;
        Ok(Self { stream })
    }

    /// Give up waiting for the answer after `timeout` (none: wait as long as it takes).
    pub fn with_timeout(self, timeout: Option<Duration>) -> Result<Self, ClientError> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)?;
        Ok(self)
    }

    /// Send `request` and wait for the answer; a [`Response::Error`] is
    /// returned as [`ClientError::Refused`].
    pub fn call(self, request: &Request) -> Result<Response, ClientError> {
        self.call_with_fds(request, &[])
    }

    /// As [`Client::call`], with descriptors riding along (`SCM_RIGHTS`).
    pub fn call_with_fds(
        mut self,
        request: &Request,
        fds: &[RawFd],
    ) -> Result<Response, ClientError> {
        let mut line = serde_json::to_vec(&Envelope {
            version: VERSION,
            message: request,
        })
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        if fds.is_empty() {
            self.stream.write_all(&line)?;
        } else {
            use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
            let iov = [std::io::IoSlice::new(&line)];
            let rights = [ControlMessage::ScmRights(fds)];
            let sent = sendmsg::<()>(
                self.stream.as_raw_fd(),
                &iov,
                &rights,
                MsgFlags::empty(),
                None,
            )
            .map_err(std::io::Error::from)?;
            self.stream.write_all(&line[sent..])?;
        }
        let mut answer = String::new();
        BufReader::new(&self.stream).read_line(&mut answer)?;
        if answer.is_empty() {
            return Err(ClientError::NoAnswer);
        }
        decode(answer.as_bytes())
    }
}

/// An attached container: its output comes on `output` (after `first`).
#[derive(Debug)]
pub struct Attached {
    /// Its output is a terminal's.
    pub tty: bool,
    /// Its input end, when it was asked for.
    pub input: Option<std::os::fd::OwnedFd>,
    /// Output read with the answer.
    pub first: Vec<u8>,
    /// The rest of its output, until it ends.
    pub output: UnixStream,
}

impl Client {
    /// Send an `Attach` request: the answer, the input end riding along
    /// with it (`SCM_RIGHTS`) and the connection its output then comes on.
    pub fn attach(mut self, request: &Request) -> Result<Attached, ClientError> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        use std::os::fd::FromRawFd;
        let mut line = serde_json::to_vec(&Envelope {
            version: VERSION,
            message: request,
        })
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.stream.write_all(&line)?;
        let mut answer = Vec::new();
        let mut fd = None;
        while !answer.contains(&b'\n') {
            let mut buffer = [0u8; 4096];
            let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let message = recvmsg::<()>(
                self.stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(std::io::Error::from)?;
            let n = message.bytes;
            for cmsg in message.cmsgs().map_err(std::io::Error::from)? {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    for raw in fds {
                        // SAFETY: the kernel just installed this fd for us; nothing else owns it.
                        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
        let Some(end) = answer.iter().position(|b| *b == b'\n') else {
            return Err(ClientError::NoAnswer);
        };
        let first = answer.split_off(end + 1);
        match decode(&answer)? {
            Response::Attached { tty } => Ok(Attached {
                tty,
                input: fd,
                first,
                output: self.stream,
            }),
            other => Err(ClientError::Protocol(format!(
                "an attach was answered with {other:?}"
            ))),
        }
    }
}

/// An answer line: this protocol's version, a refusal as [`ClientError::Refused`].
fn decode(line: &[u8]) -> Result<Response, ClientError> {
    let envelope: Envelope<Response> = serde_json::from_slice(line).map_err(|e| {
        ClientError::Protocol(format!("{e}: {}", String::from_utf8_lossy(line).trim()))
    })?;
    if envelope.version != VERSION {
        return Err(ClientError::Protocol(format!(
            "protocol version {} (this podctl speaks {VERSION})",
            envelope.version
        )));
    }
    match envelope.message {
        Response::Error { message } => Err(ClientError::Refused(message)),
        other => Ok(other),
    }
}

/// Ask the supervisor of the pod at `paths` one thing, waiting at most `timeout`.
pub fn call(
    paths: &PodPaths,
    request: &Request,
    timeout: Option<Duration>,
) -> Result<Response, ClientError> {
    Client::connect(paths)?.with_timeout(timeout)?.call(request)
}
