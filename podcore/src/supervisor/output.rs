//! Moving output: each container's stdout and stderr from their pipes into
//! its CRI log file, and a client exec's output into its answer.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::logs::LineBuffer;

use super::Supervisor;

/// One of a container's output pipes and its partial line.
pub(super) struct Output {
    fd: OwnedFd,
    buffer: LineBuffer,
}

impl Output {
    pub fn new(fd: OwnedFd, buffer: LineBuffer) -> Self {
        Self { fd, buffer }
    }
}

/// A client exec's output pipe and what it gave so far.
pub(super) struct Capture {
    fd: Option<OwnedFd>,
    pub data: Vec<u8>,
    pub truncated: bool,
}

impl Capture {
    pub fn new(fd: OwnedFd) -> Self {
        Self {
            fd: Some(fd),
            data: Vec::new(),
            truncated: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.fd.is_some()
    }

    /// Read what the pipe holds; at EOF (or, when `final_read`, once it is
    /// empty) the pipe is closed.
    pub fn read(&mut self, final_read: bool) {
        let Some(fd) = &self.fd else { return };
        let mut buffer = [0u8; 8192];
        loop {
            match nix::unistd::read(fd.as_raw_fd(), &mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    let room =
                        crate::control::protocol::MAX_CAPTURE.saturating_sub(self.data.len());
                    self.data.extend_from_slice(&buffer[..n.min(room)]);
                    self.truncated |= n > room;
                    continue;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) if !final_read => return,
                Err(_) => break,
            }
        }
        self.fd = None;
    }
}

/// Whose pipe a descriptor is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source {
    /// The container at this index.
    Container(usize),
    /// The client exec of this pid.
    Exec(i32),
}

impl Supervisor {
    /// Every open output pipe, for the loop to poll.
    pub(super) fn output_fds(&self) -> Vec<(Source, RawFd)> {
        let containers = self.slots.iter().enumerate().flat_map(|(i, slot)| {
            slot.outputs
                .iter()
                .map(move |o| (Source::Container(i), o.fd.as_raw_fd()))
        });
        let execs = self.execs.iter().flat_map(|run| {
            [&run.stdout, &run.stderr]
                .into_iter()
                .flatten()
                .filter_map(|c| c.fd.as_ref())
                .map(|fd| (Source::Exec(run.pid), fd.as_raw_fd()))
        });
        containers.chain(execs).collect()
    }

    /// Read what a source's pipes hold; `final_read` drains them and closes them.
    pub(super) fn pump(&mut self, source: Source, final_read: bool) {
        match source {
            Source::Container(index) => self.pump_container(index, final_read),
            Source::Exec(pid) => {
                if let Some(run) = self.execs.iter_mut().find(|r| r.pid == pid) {
                    for capture in [&mut run.stdout, &mut run.stderr].into_iter().flatten() {
                        capture.read(final_read);
                    }
                }
            }
        }
    }

    fn pump_container(&mut self, index: usize, final_read: bool) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let Some(log) = slot.log.as_mut() else { return };
        let attachments = &mut self.attachments;
        let name = slot.spec.name.as_str();
        let mut buffer = [0u8; 8192];
        let mut closed = Vec::new();
        for (i, output) in slot.outputs.iter_mut().enumerate() {
            loop {
                match nix::unistd::read(output.fd.as_raw_fd(), &mut buffer) {
                    Ok(0) => {
                        let _ = output.buffer.finish(log);
                        closed.push(i);
                        break;
                    }
                    Ok(n) => {
                        let _ = output.buffer.push(&buffer[..n], log);
                        copy_to_attached(attachments, name, &buffer[..n]);
                    }
                    Err(nix::errno::Errno::EAGAIN) => {
                        if final_read {
                            // Something in the container still holds the pipe: stop reading it.
                            let _ = output.buffer.finish(log);
                            closed.push(i);
                        }
                        break;
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    // EIO: a terminal whose other end is closed.
                    Err(_) => {
                        let _ = output.buffer.finish(log);
                        closed.push(i);
                        break;
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            slot.outputs.remove(i);
        }
        if slot.outputs.is_empty() && final_read {
            slot.log = None;
            // The container has ended: its attached clients see the end.
            attachments.retain(|(n, _)| n != name);
        }
    }
}

/// Copy a container's output to its attached clients; one that cannot take
/// it now (or has gone) is dropped, so no client slows the pod down.
fn copy_to_attached(
    attachments: &mut Vec<(String, std::os::unix::net::UnixStream)>,
    name: &str,
    bytes: &[u8],
) {
    use std::io::Write;
    attachments.retain_mut(|(n, stream)| n != name || stream.write_all(bytes).is_ok());
}
