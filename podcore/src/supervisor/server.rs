//! The supervisor's end of the control socket ([`crate::control`]): one
//! request per connection, read without blocking the loop, answered at
//! once or, for what takes time (a container's stop, an exec), when it is
//! done. Only root is answered.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, getsockopt, recvmsg, sockopt};

use crate::container::ExecIo;
use crate::control::protocol::{Envelope, MAX_REQUEST};
use crate::control::{ExecStdio, Request, Response, VERSION};
use crate::status::EventType;

use super::lifecycle::Life;
use super::output::Capture;
use super::spawn::{ExecRun, set_nonblocking};
use super::{Sandbox, Supervisor, SupervisorError, chain, io, pipe};

/// The most connections open at once; more are closed unanswered.
const MAX_CONNECTIONS: usize = 64;

/// The listening socket and the connections being served.
pub(super) struct Server {
    listener: UnixListener,
    connections: Vec<Connection>,
}

struct Connection {
    stream: UnixStream,
    request: Vec<u8>,
    /// Descriptors that came with the request.
    fds: Vec<OwnedFd>,
    /// The request is being carried out; answered when this is done.
    waiting: Option<Wait>,
}

/// What a deferred answer waits for.
#[derive(Debug, Clone)]
enum Wait {
    /// The container has stopped.
    Stopped(String),
    /// The container has stopped; then it is removed.
    Removed(String),
    /// The exec'd process of this pid has ended.
    Exec(i32),
}

impl Server {
    /// Listen on `path`, mode 0600.
    pub fn bind(path: &Path) -> Result<Self, SupervisorError> {
        let _ = std::fs::remove_file(path);
        // Nobody but root may connect, from the first moment on.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let listener = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = listener.map_err(io("listen on the control socket"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("listen on the control socket"))?;
        Ok(Self {
            listener,
            connections: Vec::new(),
        })
    }

    pub fn listener_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// The connections whose request is still being read.
    pub fn fds(&self) -> Vec<RawFd> {
        self.connections
            .iter()
            .filter(|c| c.waiting.is_none())
            .map(|c| c.stream.as_raw_fd())
            .collect()
    }

    /// Take the connections waiting to be accepted; refuse anyone but root.
    pub fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let root = getsockopt(&stream, sockopt::PeerCredentials).is_ok_and(|c| c.uid() == 0);
            if !root {
                answer(
                    &stream,
                    &Response::Error {
                        message: "refused: only root may talk to a pod's supervisor".into(),
                    },
                );
                continue;
            }
            if self.connections.len() >= MAX_CONNECTIONS || stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.connections.push(Connection {
                stream,
                request: Vec::new(),
                fds: Vec::new(),
                waiting: None,
            });
        }
    }
}

/// One answer as the line written, the stream made ready to write it: a
/// client that does not read it in a second loses it.
fn answer_line(stream: &UnixStream, response: &Response) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Envelope {
        version: VERSION,
        message: response,
    })
    .unwrap_or_default();
    line.push(b'\n');
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    line
}

/// Write one answer line.
fn answer(stream: &UnixStream, response: &Response) {
    let line = answer_line(stream, response);
    let _ = (&*stream).write_all(&line);
}

/// Write one answer line with `fd` riding along (`SCM_RIGHTS`).
fn answer_with_fd(stream: &UnixStream, response: &Response, fd: &OwnedFd) {
    use nix::sys::socket::{ControlMessage, sendmsg};
    let line = answer_line(stream, response);
    let fds = [fd.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(&line)];
    if let Ok(sent) = sendmsg::<()>(stream.as_raw_fd(), &iov, &rights, MsgFlags::empty(), None) {
        let _ = (&*stream).write_all(&line[sent..]);
    }
}

fn error(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

impl Supervisor {
    /// Read from the connection `fd`; once its request is whole, carry it out.
    pub(super) fn serve(&mut self, fd: RawFd) {
        let Some(at) = self
            .server
            .connections
            .iter()
            .position(|c| c.stream.as_raw_fd() == fd)
        else {
            return;
        };
        let connection = &mut self.server.connections[at];
        let mut buffer = [0u8; 8192];
        let mut space = nix::cmsg_space!([RawFd; 3]);
        let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
        let read = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC);
        let (n, fds) = match read {
            Ok(message) => {
                let mut fds = Vec::new();
                for cmsg in message.cmsgs().into_iter().flatten() {
                    if let ControlMessageOwned::ScmRights(received) = cmsg {
                        // SAFETY: the kernel just installed these descriptors in
                        // this process; nothing else owns them.
                        fds.extend(received.into_iter().map(|fd| unsafe {
                            <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
                        }));
                    }
                }
                (message.bytes, fds)
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return,
            Err(_) => (0, Vec::new()),
        };
        connection.fds.extend(fds);
        if n == 0 {
            // Gone before its request was whole.
            self.server.connections.remove(at);
            return;
        }
        connection.request.extend_from_slice(&buffer[..n]);
        let Some(end) = connection.request.iter().position(|&b| b == b'\n') else {
            if connection.request.len() > MAX_REQUEST {
                let connection = self.server.connections.remove(at);
                answer(
                    &connection.stream,
                    &error(format!("request longer than {MAX_REQUEST} bytes")),
                );
            }
            return;
        };
        let line = connection.request[..end].to_vec();
        let fds = std::mem::take(&mut connection.fds);
        let request = serde_json::from_slice::<Envelope<Request>>(&line);
        let outcome = match request {
            Err(e) => Err(error(format!("malformed request: {e}"))),
            Ok(envelope) if envelope.version != VERSION => Err(error(format!(
                "protocol version {} is not spoken here: this supervisor speaks version {VERSION}",
                envelope.version
            ))),
            Ok(envelope) => {
                tracing::debug!(request = ?envelope.message, "control request");
                Ok(self.carry_out(envelope.message, fds))
            }
        };
        let outcome = outcome.unwrap_or_else(Outcome::Now);
        match outcome {
            Outcome::Later(wait) => self.server.connections[at].waiting = Some(wait),
            Outcome::Now(response) => {
                let connection = self.server.connections.remove(at);
                answer(&connection.stream, &response);
            }
            Outcome::Attach(index, response, fd) => {
                let connection = self.server.connections.remove(at);
                match &fd {
                    Some(fd) => answer_with_fd(&connection.stream, &response, fd),
                    None => answer(&connection.stream, &response),
                }
                // The output is copied as it comes and never waited for.
                if connection.stream.set_nonblocking(true).is_ok() {
                    let name = self.slots[index].spec.name.clone();
                    self.attachments.push((name, connection.stream));
                }
            }
        }
    }

    /// Carry out a request: answered now, or once what it waits for is done.
    fn carry_out(&mut self, request: Request, mut fds: Vec<OwnedFd>) -> Outcome {
        let stopping = self.stopping();
        let index = |name: &str| {
            self.slot(name).ok_or_else(|| {
                error(format!(
                    "no container {name:?} in pod {}",
                    self.record.spec.name
                ))
            })
        };
        match request {
            Request::Status => Outcome::Now(Response::Status {
                status: Box::new(self.current_status()),
            }),
            Request::StopPod { grace_seconds } => {
                self.stop_requested(grace_seconds);
                Outcome::Now(Response::Done)
            }
            Request::Add { .. } | Request::Start { .. } if stopping => {
                Outcome::Now(error("the pod is stopping: nothing is added or started"))
            }
            Request::Add { container } => Outcome::Now(match self.add_container(container) {
                Ok(()) => Response::Done,
                Err(message) => error(message),
            }),
            Request::Start { container } => {
                let index = match index(&container) {
                    Ok(i) => i,
                    Err(e) => return Outcome::Now(e),
                };
                if self.slots[index].life.is_running() {
                    return Outcome::Now(error(format!(
                        "container {container} is running already"
                    )));
                }
                if self.sandbox != Sandbox::Running || self.pause_pid.is_none() {
                    return Outcome::Now(error("the pod's sandbox is not running"));
                }
                self.start_container(index);
                Outcome::Now(match self.slots[index].life {
                    Life::Running { pid, .. } => Response::Started { pid },
                    _ => error(format!(
                        "container {container} did not start: {}",
                        last_message(&self.slots[index].status)
                    )),
                })
            }
            Request::Stop {
                container,
                timeout_seconds,
            } => match index(&container) {
                Err(e) => Outcome::Now(e),
                Ok(i) if !self.slots[i].life.is_running() => {
                    // Not running: it stays down (no restart after a back-off).
                    let slot = &mut self.slots[i];
                    slot.life = super::lifecycle::request_stop(slot.life, Instant::now(), true);
                    Outcome::Now(Response::Done)
                }
                Ok(i) => {
                    self.stop_container(i, Duration::from_secs(timeout_seconds));
                    Outcome::Later(Wait::Stopped(container))
                }
            },
            Request::Remove { container } => match index(&container) {
                Err(e) => Outcome::Now(e),
                Ok(i) => {
                    self.stop_container(i, Duration::ZERO);
                    Outcome::Later(Wait::Removed(container))
                }
            },
            Request::Attach { container, stdin } => {
                let index = match index(&container) {
                    Ok(i) => i,
                    Err(e) => return Outcome::Now(e),
                };
                self.attach(index, stdin)
            }
            Request::Exec {
                container,
                command,
                stdio,
                timeout_seconds,
            } => {
                let i = match index(&container) {
                    Ok(i) => i,
                    Err(e) => return Outcome::Now(e),
                };
                if !self.slots[i].life.is_running() {
                    return Outcome::Now(error(format!(
                        "container {container} is not running: exec needs a running container"
                    )));
                }
                if command.is_empty() {
                    return Outcome::Now(error("exec: the command is empty"));
                }
                let (exec_io, captures) = match stdio {
                    ExecStdio::Passed if fds.len() == 3 => {
                        let [stdin, stdout, stderr] = [fds.remove(0), fds.remove(0), fds.remove(0)];
                        (ExecIo::Fds([stdin, stdout, stderr]), None)
                    }
                    ExecStdio::Passed => {
                        return Outcome::Now(error(format!(
                            "exec with passed stdio needs 3 descriptors (stdin, stdout, stderr), got {}",
                            fds.len()
                        )));
                    }
                    ExecStdio::Terminal { console_socket } => {
                        (ExecIo::Terminal(console_socket), None)
                    }
                    ExecStdio::Captured => match captured() {
                        Ok((io, out, err)) => (io, Some((out, err))),
                        Err(e) => return Outcome::Now(error(chain(&e))),
                    },
                };
                match self.exec_in(i, command, exec_io) {
                    Ok(pid) => {
                        let (stdout, stderr) = match captures {
                            Some((out, err)) => (Some(out), Some(err)),
                            None => (None, None),
                        };
                        self.execs.push(ExecRun {
                            pid,
                            deadline: timeout_seconds
                                .map(|t| Instant::now() + Duration::from_secs(t)),
                            stdout,
                            stderr,
                            exit_code: None,
                        });
                        Outcome::Later(Wait::Exec(pid))
                    }
                    Err(e) => Outcome::Now(error(format!("exec in {container}: {}", chain(&e)))),
                }
            }
        }
    }

    /// Answer the requests whose wait is over; kill execs past their timeout.
    pub(super) fn answer_waiting(&mut self) {
        let now = Instant::now();
        for run in &mut self.execs {
            if run.deadline.is_some_and(|d| d <= now) && run.exit_code.is_none() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(run.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                run.deadline = None;
            }
        }
        let mut at = 0;
        while at < self.server.connections.len() {
            let Some(wait) = self.server.connections[at].waiting.clone() else {
                at += 1;
                continue;
            };
            let response = match wait {
                Wait::Stopped(name) | Wait::Removed(name)
                    if self
                        .slot(&name)
                        .is_some_and(|i| self.slots[i].life.is_running()) =>
                {
                    None
                }
                Wait::Stopped(_) => Some(Response::Done),
                Wait::Removed(name) => Some(match self.remove_container(&name) {
                    Ok(()) => Response::Done,
                    Err(message) => error(message),
                }),
                Wait::Exec(pid) => self.exec_done(pid),
            };
            match response {
                Some(response) => {
                    let connection = self.server.connections.remove(at);
                    answer(&connection.stream, &response);
                }
                None => at += 1,
            }
        }
    }

    /// The answer to an exec once its process ended and its output is read.
    fn exec_done(&mut self, pid: i32) -> Option<Response> {
        let at = self.execs.iter().position(|r| r.pid == pid)?;
        let run = &self.execs[at];
        let open = [&run.stdout, &run.stderr]
            .into_iter()
            .flatten()
            .any(Capture::is_open);
        let exit_code = run.exit_code?;
        if open {
            return None;
        }
        let run = self.execs.remove(at);
        let text = |c: &Option<Capture>| {
            c.as_ref()
                .map(|c| String::from_utf8_lossy(&c.data).into_owned())
                .unwrap_or_default()
        };
        Some(Response::Exec {
            exit_code,
            stdout: text(&run.stdout),
            stderr: text(&run.stderr),
            truncated: [&run.stdout, &run.stderr]
                .into_iter()
                .flatten()
                .any(|c| c.truncated),
        })
    }

    /// Add a client's container, not started (see [`Request::Add`]).
    /// Attach a client to the running container at `index`: its output,
    /// and with `stdin` its input end.
    fn attach(&mut self, index: usize, stdin: bool) -> Outcome {
        let slot = &mut self.slots[index];
        let name = slot.spec.name.clone();
        if !slot.life.is_running() {
            return Outcome::Now(error(format!("container {name} is not running")));
        }
        let tty = slot.spec.tty;
        if !stdin {
            return Outcome::Attach(index, Response::Attached { tty }, None);
        }
        let once = slot.spec.stdin_once;
        let (fd, _) = match &slot.input {
            None => {
                return Outcome::Now(error(format!(
                    "container {name} was not started with stdin or tty: attach can only show its output"
                )));
            }
            // stdinOnce: the first client takes the pipe; its end is the container's EOF.
            Some(super::Input::Pipe(_)) if once => match slot.input.take() {
                Some(super::Input::Pipe(fd)) => (Ok(fd), false),
                _ => unreachable!("matched a pipe"),
            },
            Some(super::Input::Pipe(fd)) => (fd.try_clone(), false),
            Some(super::Input::Terminal(fd)) => (fd.try_clone(), true),
        };
        match fd {
            Ok(fd) => Outcome::Attach(index, Response::Attached { tty }, Some(fd)),
            Err(e) => Outcome::Now(error(format!("copy the input of {name}: {e}"))),
        }
    }

    fn add_container(&mut self, container: serde_json::Value) -> Result<(), String> {
        let (spec, image) =
            super::delegate::add_container(&self.record, &self.paths.root, &container)
                .map_err(|e| format!("add container: {e}"))?;
        let new = spec
            .containers
            .last()
            .cloned()
            .ok_or("add container: none was given")?;
        let mut record = self.record.clone();
        record.spec = spec;
        record.images.insert(new.name.clone(), image);
        crate::pod::write_json(&self.paths.record(), &record)
            .map_err(|e| format!("add container {}: {e}", new.name))?;
        self.record = record;
        self.add_slot(new.clone(), false, Life::Created);
        self.event(
            EventType::Normal,
            "Created",
            format!("Created container {} (not started)", new.name),
        );
        Ok(())
    }

    /// Remove a stopped container: its slot, folder, logs and record entry.
    fn remove_container(&mut self, name: &str) -> Result<(), String> {
        let index = self
            .slot(name)
            .ok_or_else(|| format!("no container {name:?}"))?;
        let mut record = self.record.clone();
        record.spec = crate::spec::without_container(&record.spec, name);
        record.images.remove(name);
        crate::pod::write_json(&self.paths.record(), &record)
            .map_err(|e| format!("remove container {name}: {e}"))?;
        self.record = record;
        self.cleanup_container(index);
        self.slots.remove(index);
        let _ = std::fs::remove_dir_all(self.paths.container(name));
        let _ = std::fs::remove_dir_all(self.paths.logs(name));
        self.dirty = true;
        self.event(
            EventType::Normal,
            "Removed",
            format!("Removed container {name}"),
        );
        Ok(())
    }
}

/// What a request comes to.
enum Outcome {
    Now(Response),
    Later(Wait),
    /// Attached to the container at this index: the answer (with its
    /// input end, if asked for), then its output on the connection.
    Attach(usize, Response, Option<OwnedFd>),
}

/// Pipes for an exec whose output is returned: the process's ends and ours.
fn captured() -> Result<(ExecIo, Capture, Capture), SupervisorError> {
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    set_nonblocking(&out_read)?;
    set_nonblocking(&err_read)?;
    let null = std::fs::File::open("/dev/null").map_err(io("open /dev/null"))?;
    Ok((
        ExecIo::Fds([null.into(), out_write, err_write]),
        Capture::new(out_read),
        Capture::new(err_read),
    ))
}

/// The message of a container's last end, for a failed start.
fn last_message(status: &crate::status::ContainerStatus) -> String {
    match &status.state {
        crate::status::ContainerState::Terminated(t) => t
            .message
            .clone()
            .unwrap_or_else(|| format!("exit code {}", t.exit_code)),
        _ => "see podctl describe".into(),
    }
}
