//! `podctl exec -t`: receive the container's pseudo-terminal over a Unix
//! socket (as runc's and youki's `--console-socket` send it), put our own
//! terminal in raw mode, and copy bytes both ways until the command ends.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

/// Restores the terminal's settings when dropped.
pub struct RawMode(Option<Termios>);

impl RawMode {
    /// Put this process's terminal in raw mode, until dropped.
    pub fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return Self(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        Self(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Accept the runtime's connection on `listener` and take the terminal's master fd.
pub fn receive_master(listener: &UnixListener) -> anyhow::Result<OwnedFd> {
    podcore::container::console::receive_master(listener, Duration::from_secs(10))
        .context("receive the container's terminal")
}

/// Copy our stdin to the terminal and the terminal to our stdout until the
/// process ends (the terminal hangs up). The window size is copied over once.
pub fn proxy(master: OwnedFd) -> anyhow::Result<()> {
    copy_window_size(&master);
    let _raw = RawMode::enter();
    let mut master_file = std::fs::File::from(master);
    let mut stdout = std::io::stdout();
    let mut stdin_open = true;
    let mut buffer = [0u8; 8192];
    loop {
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(master_file.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        poll(
            &mut fds,
            PollTimeout::from(Duration::from_millis(500).as_millis() as u16),
        )
        .context("wait for terminal input")?;
        let master_events = fds[0].revents().unwrap_or(PollFlags::empty());
        let stdin_events = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        drop(fds);
        if master_events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match master_file.read(&mut buffer) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => {
                    stdout.write_all(&buffer[..n])?;
                    stdout.flush()?;
                }
            }
        }
        if stdin_events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match std::io::stdin().lock().read(&mut buffer) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => master_file.write_all(&buffer[..n])?,
            }
        }
    }
}

fn copy_window_size(master: &OwnedFd) {
    // SAFETY: `winsize` is plain data; zeroed is valid.
    let mut size: nix::libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes into `size`, which outlives the call.
    if unsafe {
        nix::libc::ioctl(
            std::io::stdin().as_raw_fd(),
            nix::libc::TIOCGWINSZ,
            &mut size,
        )
    } == 0
    {
        // SAFETY: TIOCSWINSZ reads `size`, which outlives the call.
        unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSWINSZ, &size) };
    }
}

/// A private folder for the console socket.
pub fn socket_dir(root: &Path) -> anyhow::Result<tempfile::TempDir> {
    podcore::container::console::socket_dir(root).context("make a folder for the console socket")
}
