//! Signals reach the supervisor's loop through a self-pipe written by an
//! async-signal-safe handler rather than a signalfd: a signalfd needs the
//! signals blocked, and a blocked mask would be inherited by every
//! container libcontainer clones.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use super::{SupervisorError, sys};

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The signals the loop hears of.
const HANDLED: [Signal; 4] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
];

extern "C" fn on_signal(signo: nix::libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    let byte = signo as u8;
    // SAFETY: write(2) on a non-blocking pipe is async-signal-safe; a full
    // pipe drops the byte, and one byte already there wakes the loop.
    unsafe { nix::libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Install the handlers; returns the pipe's read end for the loop to poll.
pub(super) fn install() -> Result<OwnedFd, SupervisorError> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(sys("create signal pipe"))?;
    SIGNAL_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
    // The handler writes to it for as long as the process lives.
    std::mem::forget(write);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    for signal in HANDLED {
        // SAFETY: the handler only calls write(2) on a pipe, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }.map_err(sys("install signal handler"))?;
    }
    // SAFETY: ignoring SIGPIPE installs no handler code.
    unsafe {
        sigaction(
            Signal::SIGPIPE,
            &SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty()),
        )
    }
    .map_err(sys("ignore SIGPIPE"))?;
    Ok(read)
}

/// Put the default actions back (in a child that must not write to the
/// supervisor's pipe).
pub(super) fn restore_defaults() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in HANDLED {
        // SAFETY: restoring the default action installs no handler code.
        let _ = unsafe { sigaction(signal, &default) };
    }
}

/// Whether the signals waiting in the pipe ask the pod to stop.
pub(super) fn drain(pipe: &OwnedFd) -> bool {
    let mut bytes = [0u8; 64];
    let mut stop = false;
    while let Ok(n @ 1..) = nix::unistd::read(pipe.as_raw_fd(), &mut bytes) {
        stop |= bytes[..n].iter().any(|&b| {
            matches!(
                b as i32,
                nix::libc::SIGTERM | nix::libc::SIGINT | nix::libc::SIGHUP
            )
        });
    }
    stop
}
