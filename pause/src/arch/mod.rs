//! The architecture-specific part of pause: the process entry point, raw
//! system calls and the signal-return trampoline. Porting pause to another
//! architecture means one more file here with the same items.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("pause: only x86_64 is implemented; add src/arch/<arch>.rs");
