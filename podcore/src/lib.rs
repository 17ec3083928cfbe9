//! The pod runtime library: pod specs ([`spec`]), the local OCI image store
//! ([`image`], and [`image_cleanup`] for removing what no pod uses), the
//! pause sandbox and containers ([`sandbox`], [`container`], [`cgroups`],
//! [`network`]), the per-pod supervisor ([`supervisor`]) and how to talk to
//! it ([`control`]), a pod on disk ([`pod`], [`teardown`]) and as
//! Kubernetes shows it ([`kube`], [`status`], [`logs`]); see
//! docs/ARCHITECTURE.md for how a pod travels through them and which file
//! holds which job.

pub mod cgroups;
pub mod container;
pub mod control;
pub mod downward;
pub mod env;
pub mod executor;
pub mod fsutil;
pub mod image;
pub mod image_cleanup;
pub mod kube;
pub mod logs;
pub mod namespaces;
pub mod network;
pub mod objects;
pub mod pod;
pub mod probe;
pub mod runtime;
pub mod sandbox;
pub mod seccomp;
pub mod spec;
pub mod status;
pub mod supervisor;
pub mod teardown;
pub mod volumes;
