//! The seccomp profile of every container: Docker's default profile, an
//! allow list. What it allows unconditionally, what it allows only with a
//! capability the container holds, and the argument rules (`personality`
//! personas, `socket` without AF_VSOCK, `clone` without namespace flags).
//! As Docker 25 and later, the `io_uring_*` calls are not allowed: io_uring
//! reaches kernel code that the filter would never see.

use serde_json::{Value, json};

/// What every container may call (Docker's unconditional list, io_uring removed).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
];

/// Calls allowed only to a container holding the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The `personality` values allowed: Linux, UNAME26, PER_LINUX32 with and
/// without UNAME26, and the query (0xffffffff).
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// `clone` flags that make namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET): refused without CAP_SYS_ADMIN.
const NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// AF_VSOCK: talks to the hypervisor, never needed in a container.
const AF_VSOCK: u64 = 40;

/// The errno of a refused call: EPERM, as Docker.
const EPERM: u32 = 1;

/// The errno of `clone3` without CAP_SYS_ADMIN: ENOSYS, so the C library
/// falls back to `clone`, whose flags the filter can read.
const ENOSYS: u32 = 38;

/// The seccomp section of a container's OCI spec, for a container holding
/// `capabilities` (`CAP_...` names).
pub fn profile(capabilities: &[String]) -> Value {
    let holds = |cap: &str| capabilities.iter().any(|c| c == cap);
    let mut allowed: Vec<&str> = ALLOWED.to_vec();
    allowed.extend_from_slice(architecture_calls());
    for (cap, names) in BY_CAPABILITY {
        if holds(cap) {
            allowed.extend_from_slice(names);
        }
    }
    allowed.sort_unstable();
    allowed.dedup();
    let mut rules = vec![json!({"names": allowed, "action": "SCMP_ACT_ALLOW"})];
    for persona in PERSONAS {
        rules.push(json!({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}],
        }));
    }
    rules.push(json!({
        "names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}],
    }));
    if !holds("CAP_SYS_ADMIN") {
        // libcontainer reads a masked comparison as (arg & valueTwo) == value.
        rules.push(json!({
            "names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0, "valueTwo": NAMESPACE_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}],
        }));
        rules.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": architectures(),
        "syscalls": rules,
    })
}

/// What pause may call, and what the runtime calls in pause's process
/// between loading the filter and `execve` (its start handshake, the user
/// lookup, the executor's signal reset, its error report): everything else
/// fails with EPERM.
/// pause itself only installs handlers, reaps and waits; a filter of 30
/// calls rather than 300 is also 1 ms less of every pod's start, the
/// filter being compiled anew in every container's init.
const PAUSE_ALLOWED: &[&str] = &[
    // pause
    "rt_sigaction",
    "rt_sigreturn",
    "rt_sigprocmask",
    "pause",
    "wait4",
    "getpid",
    "write",
    "exit",
    "exit_group",
    "execve",
    // the runtime, before execve
    "accept4",
    "brk",
    "close",
    "connect",
    "fcntl",
    "fstat",
    "futex",
    "getdents64",
    "lseek",
    "mmap",
    "munmap",
    "newfstatat",
    "openat",
    "read",
    "recvfrom",
    "sendmsg",
    "socket",
    "statx",
    // the runtime's error report, when `execve` fails: its log line reads
    // the clock and the thread id. Where the clock is a system call (no vDSO
    // clock source, e.g. an emulated VM) refusing it made the runtime panic
    // and the report was lost.
    "clock_gettime",
    "gettid",
];

/// The seccomp section of the pause container's spec ([`PAUSE_ALLOWED`]).
pub fn pause_profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": architectures(),
        "syscalls": [{"names": PAUSE_ALLOWED, "action": "SCMP_ACT_ALLOW"}],
    })
}

/// Calls of the host's architecture only (thread-local storage on x86, ...).
fn architecture_calls() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["arch_prctl", "modify_ldt"],
        "aarch64" | "arm" => &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        "s390x" => &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        "riscv64" => &["riscv_flush_icache"],
        _ => &[],
    }
}

/// The host's own system call architecture only. Docker also lists the
/// 32-bit ones (x86 and x32 beside x86_64), but libcontainer compiles the
/// filter anew for every container, and each extra architecture multiplies
/// that work: 17 ms per container for x86_64+x86+x32 against 3 ms for
/// x86_64 alone, here. The price: 32-bit programs in a container are refused.
fn architectures() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "aarch64" => &["SCMP_ARCH_AARCH64"],
        "riscv64" => &["SCMP_ARCH_RISCV64"],
        "s390x" => &["SCMP_ARCH_S390X"],
        _ => &["SCMP_ARCH_X86_64"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(profile: &Value) -> Vec<String> {
        profile["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn capabilities_open_their_calls_and_only_theirs() {
        let plain = profile(&[]);
        let names = allowed(&plain);
        for refused in [
            "mount",
            "unshare",
            "setns",
            "bpf",
            "keyctl",
            "io_uring_setup",
            "ptrace",
        ] {
            assert_eq!(
                names.contains(&refused.to_string()),
                refused == "ptrace",
                "{refused}"
            );
        }
        assert!(names.contains(&"read".to_string()));
        let admin = profile(&["CAP_SYS_ADMIN".into()]);
        assert!(allowed(&admin).contains(&"mount".to_string()));
        // With CAP_SYS_ADMIN clone takes any flags: no masked rule, no clone3 errno.
        let rules = admin["syscalls"].as_array().unwrap();
        assert!(!rules.iter().any(|r| r["names"][0] == "clone3"));
        let parsed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(plain).unwrap();
        assert_eq!(parsed.default_errno_ret(), Some(EPERM));
    }

    #[test]
    fn pause_gets_a_narrow_profile() {
        let pause = allowed(&pause_profile());
        for needed in ["pause", "wait4", "rt_sigaction", "execve", "exit_group"] {
            assert!(pause.contains(&needed.to_string()), "{needed}");
        }
        for refused in ["clone", "fork", "mount", "ptrace", "kill", "setns"] {
            assert!(!pause.contains(&refused.to_string()), "{refused}");
        }
        let parsed: oci_spec::runtime::LinuxSeccomp =
            serde_json::from_value(pause_profile()).unwrap();
        assert_eq!(parsed.default_errno_ret(), Some(EPERM));
    }
}
