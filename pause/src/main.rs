//! `pause`: the infra process of every pod.
//!
//! It holds the pod's shared namespaces open for as long as the pod lives and,
//! as PID 1 of a shared PID namespace, reaps every orphan re-parented to it.
//! It behaves exactly like Kubernetes' `build/pause/linux/pause.c`:
//! `-v` prints the version, SIGINT/SIGTERM print the `psignal` line and exit 0,
//! SIGCHLD reaps with `WNOHANG` until nothing is left, and otherwise it sleeps
//! in `pause()` forever.
//!
//! It is `no_std` with raw system calls and no libc, so a pod pays a few KiB
//! of disk and memory for it instead of the ~700 KiB of a static glibc build.

#![no_std]
#![no_main]

mod arch;

use arch::{KernelSigaction, SA_RESTORER, syscall4};

const SIGINT: usize = 2;
const SIGTERM: usize = 15;
const SIGCHLD: usize = 17;
const SA_NOCLDSTOP: usize = 1;
const WNOHANG: usize = 1;
const STDOUT: usize = 1;
const STDERR: usize = 2;

/// What `-v` prints: the reference's format with this project's version.
const VERSION_LINE: &[u8] =
    concat!("pause.c v3.10-podctl-", env!("CARGO_PKG_VERSION"), "\n").as_bytes();

fn write(fd: usize, bytes: &[u8]) {
    // SAFETY: `bytes` is a valid readable buffer of the given length.
    unsafe { syscall4(arch::SYS_WRITE, fd, bytes.as_ptr() as usize, bytes.len(), 0) };
}

fn exit(code: usize) -> ! {
    // SAFETY: exit_group(2) ends the process and never returns.
    unsafe { syscall4(arch::SYS_EXIT_GROUP, code, 0, 0, 0) };
    // exit_group does not return; should it ever, sleep rather than spin.
    loop {
        arch::pause();
    }
}

/// Handler for SIGINT and SIGTERM: what `psignal(signo, "Shutting down, got signal")`
/// prints, then exit 0. Only `write` and `exit_group`: async-signal-safe.
extern "C" fn sigdown(signo: i32) {
    let message: &[u8] = if signo as usize == SIGINT {
        b"Shutting down, got signal: Interrupt\n"
    } else {
        b"Shutting down, got signal: Terminated\n"
    };
    write(STDERR, message);
    exit(0);
}

/// Handler for SIGCHLD: reap every exited child. Only `wait4`: async-signal-safe.
extern "C" fn sigreap(_signo: i32) {
    // SAFETY: wait4 with a null status and rusage pointer writes no memory.
    while unsafe { syscall4(arch::SYS_WAIT4, usize::MAX, 0, WNOHANG, 0) } > 0 {}
}

fn install(signo: usize, handler: extern "C" fn(i32), flags: usize) -> bool {
    let action = KernelSigaction {
        handler: handler as *const () as usize,
        flags: flags | SA_RESTORER,
        restorer: arch::restore_rt as *const () as usize,
        mask: 0,
    };
    // SAFETY: `action` is a valid kernel sigaction that outlives the call; the
    // old action pointer is null; the mask size is the kernel's 8 bytes.
    let ret = unsafe {
        syscall4(
            arch::SYS_RT_SIGACTION,
            signo,
            &action as *const _ as usize,
            0,
            8,
        )
    };
    ret == 0
}

/// ASCII case-insensitive comparison of a NUL-terminated C string with `-v`.
///
/// # Safety
/// `arg` must point to a NUL-terminated string.
unsafe fn is_version_flag(arg: *const u8) -> bool {
    // SAFETY: the string is NUL-terminated, so reading stops at or before the NUL.
    unsafe { *arg == b'-' && (*arg.add(1) | 0x20) == b'v' && *arg.add(2) == 0 }
}

/// Called by `_start` with the initial stack pointer: `argc`, then `argv`.
///
/// # Safety
/// `sp` must be the process's initial stack pointer as the kernel set it up.
pub unsafe extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: the kernel lays out argc followed by argc argv pointers.
    let argc = unsafe { *sp };
    // SAFETY: argv starts one word after argc, still in the kernel's layout.
    let argv = unsafe { sp.add(1) as *const *const u8 };
    for i in 1..argc {
        // SAFETY: i < argc, and each argv entry is a NUL-terminated string.
        if unsafe { is_version_flag(*argv.add(i)) } {
            write(STDOUT, VERSION_LINE);
            exit(0);
        }
    }

    // SAFETY: getpid(2) takes no arguments.
    if unsafe { syscall4(arch::SYS_GETPID, 0, 0, 0, 0) } != 1 {
        // Not an error: pause is also used outside infra containers.
        write(STDERR, b"Warning: pause should be the first process\n");
    }

    if !install(SIGINT, sigdown, 0) {
        exit(1);
    }
    if !install(SIGTERM, sigdown, 0) {
        exit(2);
    }
    if !install(SIGCHLD, sigreap, SA_NOCLDSTOP) {
        exit(3);
    }

    loop {
        arch::pause();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(42)
}

/// Unoptimised builds of the precompiled `core` reference this symbol from
/// their unwind tables even under `panic = "abort"`; it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
