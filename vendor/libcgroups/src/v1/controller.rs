use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        move_task(pid, cgroup_path)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// Move `pid` into the cgroup at `cgroup_path` (podctl's change, see
/// PODCTL.md). A process that moves itself while it has one thread (a
/// container's intermediate process) writes `0` to the v1 `tasks` file: the
/// kernel moves the calling thread, which is the whole process, and skips
/// the global `cgroup_threadgroup_rwsem`, whose first writer after a quiet
/// spell waits for an RCU grace period (10-20 ms on a small VM). Any other
/// move writes the pid to `cgroup.procs`, as before.
pub(super) fn move_task(pid: Pid, cgroup_path: &Path) -> Result<(), WrappedIoError> {
    if pid == nix::unistd::getpid() && single_threaded() {
        return common::write_cgroup_file(cgroup_path.join("tasks"), 0);
    }
    common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
}

/// Whether this process has exactly one thread.
fn single_threaded() -> bool {
    fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.take(2).count() == 1)
}