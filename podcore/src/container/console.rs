//! A container's pseudo-terminal: the runtime makes it inside the container
//! and sends its master end over a Unix socket (`--console-socket`, as runc
//! and youki do); the receiver takes it here.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// Accept the runtime's connection on `listener` (within `timeout`) and take
/// the terminal's master fd.
pub fn receive_master(listener: &UnixListener, timeout: Duration) -> std::io::Result<OwnedFd> {
    listener.set_nonblocking(true)?;
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let wait = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    if poll(&mut fds, wait)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the container sent no terminal within {timeout:?}"),
        ));
    }
    let (stream, _) = listener.accept()?;
    let mut buffer = [0u8; 4096];
    let mut io = [IoSliceMut::new(&mut buffer)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut io,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(fd) = fds.first()
        {
            // SAFETY: the kernel just installed this fd for us; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    Err(std::io::Error::other(
        "the container's message held no terminal",
    ))
}

/// A private folder (mode 0700) for a console socket, with a short path
/// (a socket's path may hold at most 107 bytes), under `<root>/run`.
pub fn socket_dir(root: &Path) -> std::io::Result<tempfile::TempDir> {
    let dir = crate::pod::PodPaths::run_dir(root);
    std::fs::create_dir_all(&dir)?;
    tempfile::Builder::new().prefix(".c-").tempdir_in(dir)
}
