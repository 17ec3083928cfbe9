//! Which process is a pod's supervisor.
//!
//! A supervisor holds a POSIX write lock on `supervisor.lock` in its pod's
//! folder for its whole life; the kernel drops the lock when the process
//! dies, however it dies, and tells anyone who asks which process holds it.
//! So "is the supervisor alive, and which pid is it" never depends on a pid
//! file that may be stale, reused by another process, or written by someone
//! else. (The lock is not inherited by the children the supervisor forks.)

use crate::fsutil::PathError;
use std::fs::File;
use std::os::fd::AsRawFd;

use crate::pod::PodPaths;

/// Why the supervisor's lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the pod already has a running supervisor (pid {0})")]
    Held(i32),
    #[error(transparent)]
    Io(#[from] crate::fsutil::PathError),
}

/// The lock a supervisor holds while it lives; released when dropped or
/// when the process ends.
#[derive(Debug)]
pub struct SupervisorLock {
    _file: File,
}

fn whole_file(kind: i32) -> nix::libc::flock {
    // SAFETY: `flock` is plain data; zeroed is a valid value.
    let mut lock: nix::libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as i16;
    lock.l_whence = nix::libc::SEEK_SET as i16;
    lock
}

impl SupervisorLock {
    /// Take the pod's supervisor lock, or say which process holds it.
    pub fn acquire(paths: &PodPaths) -> Result<Self, LockError> {
        let path = paths.supervisor_lock();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(PathError::at("open", &path))?;
        let lock = whole_file(nix::libc::F_WRLCK);
        match nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_SETLK(&lock)) {
            Ok(_) => Ok(Self { _file: file }),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {
                Err(LockError::Held(holder(&file).unwrap_or(0)))
            }
            Err(e) => Err(PathError::new("lock", &path, e.into()).into()),
        }
    }
}

fn holder(file: &File) -> Option<i32> {
    let mut lock = whole_file(nix::libc::F_WRLCK);
    nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_GETLK(&mut lock)).ok()?;
    (lock.l_type != nix::libc::F_UNLCK as i16 && lock.l_pid > 0).then_some(lock.l_pid)
}

/// The pid of the pod's live supervisor, as the kernel knows it; `None`
/// when no process holds the supervisor's lock.
pub fn supervisor_pid(paths: &PodPaths) -> Option<i32> {
    let file = File::open(paths.supervisor_lock()).ok()?;
    holder(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_names_its_holder_and_is_gone_with_it() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let paths = PodPaths::new(dir.path(), "u");
        std::fs::create_dir_all(&paths.dir).unwrap();
        assert_eq!(supervisor_pid(&paths), None);
        let path = std::ffi::CString::new(paths.supervisor_lock().as_os_str().as_bytes()).unwrap();
        let lock = whole_file(nix::libc::F_WRLCK);
        let (ready_read, ready_write) = nix::unistd::pipe().unwrap();
        // SAFETY: the child makes only async-signal-safe system calls with
        // data prepared before the fork, then waits to be killed.
        match unsafe { nix::unistd::fork() }.unwrap() {
            // SAFETY: as above, only async-signal-safe system calls in the child.
            // SAFETY: as above, only async-signal-safe system calls in the child.
            nix::unistd::ForkResult::Child => unsafe {
                let fd =
                    nix::libc::open(path.as_ptr(), nix::libc::O_RDWR | nix::libc::O_CREAT, 0o600);
                nix::libc::fcntl(fd, nix::libc::F_SETLK, &lock);
                nix::libc::write(ready_write.as_raw_fd(), b"x".as_ptr().cast(), 1);
                loop {
                    nix::libc::pause();
                }
            },
            nix::unistd::ForkResult::Parent { child } => {
                drop(ready_write);
                let mut byte = [0u8; 1];
                nix::unistd::read(ready_read.as_raw_fd(), &mut byte).unwrap();
                assert_eq!(supervisor_pid(&paths), Some(child.as_raw()));
                assert!(matches!(
                    SupervisorLock::acquire(&paths),
                    Err(LockError::Held(pid)) if pid == child.as_raw()
                ));
                nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(supervisor_pid(&paths), None, "gone with its holder");
                let held = SupervisorLock::acquire(&paths).unwrap();
                drop(held);
            }
        }
    }
}
