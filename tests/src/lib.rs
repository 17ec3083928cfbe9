//! Helpers for the end-to-end tests: where the built binaries are, processes
//! that are killed when a test ends (also when it fails), and `/proc` readers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Folder with the built binaries: `PODCTL_TARGET_DIR` (set by `cargo xtask e2e`)
/// or the workspace's `target/debug`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("PODCTL_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"))
}

/// A built binary of the workspace; panics with the fix when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo xtask e2e`",
        path.display()
    );
    path
}

/// The workspace's top folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests lives in the workspace")
        .to_path_buf()
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Guard(pub Child);

impl Guard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pid killed with SIGKILL when dropped (for processes that are not our children).
pub struct PidGuard(pub i32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Poll `check` every 20 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Read `/proc/<pid>/stat`; `None` once the process is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        cpu_ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
    })
}

/// Every process on the host whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<ProcStat> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(proc_stat)
                .filter(|s| s.ppid == ppid)
                .collect()
        })
        .unwrap_or_default()
}

/// The pid of the first child of `parent` (e.g. the process `unshare --fork` started).
pub fn first_child(parent: i32) -> Option<i32> {
    wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Run a command to completion, returning (exit code, stdout, stderr).
pub fn output(command: &mut Command) -> (i32, String, String) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
