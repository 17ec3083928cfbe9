//! x86_64 Linux: `_start`, `syscall` wrappers, `SA_RESTORER` trampoline.

use core::arch::{asm, naked_asm};

pub const SYS_WRITE: usize = 1;
pub const SYS_RT_SIGACTION: usize = 13;
pub const SYS_RT_SIGRETURN: usize = 15;
pub const SYS_PAUSE: usize = 34;
pub const SYS_GETPID: usize = 39;
pub const SYS_WAIT4: usize = 61;
pub const SYS_EXIT_GROUP: usize = 231;

/// The kernel's `struct sigaction` for `rt_sigaction` on x86_64.
#[repr(C)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: usize,
    pub restorer: usize,
    pub mask: u64,
}

/// x86_64's `rt_sigaction` requires `SA_RESTORER` and a trampoline that
/// calls `rt_sigreturn` when a handler returns.
pub const SA_RESTORER: usize = 0x0400_0000;

/// Process entry: hands the initial stack pointer (argc, argv...) to `start`.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {start}",
        "ud2",
        start = sym crate::start,
    )
}

/// Signal-return trampoline used as `sa_restorer`.
#[unsafe(naked)]
pub unsafe extern "C" fn restore_rt() {
    naked_asm!("mov eax, {nr}", "syscall", "ud2", nr = const SYS_RT_SIGRETURN)
}

/// A raw system call with up to four arguments; returns the kernel's value
/// (negative errno on failure).
#[inline(always)]
pub unsafe fn syscall4(nr: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for system call `nr`; the
    // kernel clobbers only rcx and r11, declared here.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Sleep until a signal is delivered.
#[inline(always)]
pub fn pause() {
    // SAFETY: pause(2) takes no arguments and touches no memory.
    unsafe { syscall4(SYS_PAUSE, 0, 0, 0, 0) };
}
