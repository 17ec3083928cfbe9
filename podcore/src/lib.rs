//! The pod runtime library: the local OCI image store today; pod specs, the
//! pause sandbox, containers, volumes, cgroups and the per-pod supervisor
//! as the runtime grows (see docs/ARCHITECTURE.md).
