//! The last step in a container's init before `execve`: what libcontainer's
//! default executor does not do for us.
//!
//! - Every signal disposition back to its default and the signal mask
//!   emptied. Ignored signals and the mask survive `execve`; the supervisor
//!   (like every Rust program) ignores SIGPIPE, so without this each
//!   container would start with SIGPIPE ignored and `yes | head` would spin.
//! - For a process exec'd into a running container (`podctl exec`, exec
//!   probes, preStop hooks): the container's seccomp filter. libcontainer 0.7
//!   drops `linux.seccomp` when it execs into a container; by this point the
//!   process has its final capabilities, so the filter is loaded under
//!   `no_new_privs`, which the kernel requires of a process without
//!   CAP_SYS_ADMIN.

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::{LinuxSeccomp, Spec};

/// The executor of every container and exec'd process podctl starts.
#[derive(Clone, Default)]
pub struct PodExecutor {
    /// A seccomp filter to load just before `execve` (exec'd processes only;
    /// a container's own process gets its filter from libcontainer).
    pub seccomp: Option<LinuxSeccomp>,
}

impl Executor for PodExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        reset_signals();
        if let Some(seccomp) = &self.seccomp {
            nix::sys::prctl::set_no_new_privs()
                .map_err(|e| ExecutorError::Other(format!("set no_new_privs: {e}")))?;
            libcontainer::seccomp::initialize_seccomp(seccomp)
                .map_err(|e| ExecutorError::Other(format!("load the seccomp filter: {e}")))?;
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> Result<(), ExecutorSetEnvsError> {
        libcontainer::workload::default::get_executor().setup_envs(envs)
    }
}

/// Every signal's disposition to its default and an empty signal mask.
pub fn reset_signals() {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    for signo in 1..=nix::libc::SIGRTMAX() {
        if signo == nix::libc::SIGKILL || signo == nix::libc::SIGSTOP {
            continue;
        }
        // The kernel's sigaction: {handler, flags, restorer, mask}. The C
        // library's own wrapper refuses the signals it reserves (32, 33),
        // which a container must not inherit as ignored either.
        let action: [u64; 4] = [nix::libc::SIG_DFL as u64, 0, 0, 0];
        // SAFETY: rt_sigaction reads `action` (a kernel `struct sigaction`
        // installing SIG_DFL, no handler code) and writes nothing back.
        unsafe {
            nix::libc::syscall(
                nix::libc::SYS_rt_sigaction,
                signo,
                action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}
