//! The pod runtime library.
//!
//! Built so far: [`image`], the local OCI image store (import, verify,
//! unpack layers once, overlay root filesystems). Pod specs, the pause
//! sandbox, containers, cgroups and the per-pod supervisor come next (see
//! docs/ARCHITECTURE.md).

pub mod fsutil;
pub mod image;
pub mod spec;
