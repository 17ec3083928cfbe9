//! The pod runtime library.
//!
//! Built so far: [`image`], the local OCI image store (import, verify,
//! unpack layers once, overlay root filesystems). Pod specs, the pause
//! sandbox, containers, cgroups and the per-pod supervisor come next (see
//! docs/ARCHITECTURE.md).

pub mod cgroups;
pub mod container;
pub mod control;
pub mod executor;
pub mod fsutil;
pub mod image;
pub mod kube;
pub mod logs;
pub mod network;
pub mod pod;
pub mod probe;
pub mod runtime;
pub mod sandbox;
pub mod seccomp;
pub mod spec;
pub mod status;
pub mod supervisor;
