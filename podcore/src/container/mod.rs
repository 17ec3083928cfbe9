//! Containers: what their process is ([`process`]), what they may do
//! ([`security`]), the facts of the host their specs depend on ([`host`]),
//! their OCI runtime specs, built without touching the host ([`oci`]), and
//! their life through libcontainer ([`runtime`]).

pub mod console;
pub mod host;
pub mod oci;
pub mod process;
pub mod runtime;
pub mod security;

pub use host::Host;
pub use oci::{Placement, app_spec, pause_spec};
pub use process::{ProcessUser, process_args, process_env, process_user};
pub use runtime::{ExecIo, Stdio, create, destroy, spawn_in, start};
pub use security::{DEFAULT_CAPABILITIES, cgroup_mount_points};

use crate::fsutil::PathError;

/// Errors making or driving a container.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container {container}: {message}")]
    Spec { container: String, message: String },
    /// The container's settings cannot be met (runAsNonRoot with a root
    /// user, a user the image does not have): the kubelet's
    /// `CreateContainerConfigError`.
    #[error("container {container}: {message}")]
    Config { container: String, message: String },
    #[error("container {container}: {step}: {source}")]
    Runtime {
        container: String,
        step: &'static str,
        #[source]
        source: Box<libcontainer::error::LibcontainerError>,
    },
    #[error("container {container}: {source}")]
    Io {
        container: String,
        #[source]
        source: PathError,
    },
}

impl ContainerError {
    /// A mapper for `map_err`: an I/O error of `container` while doing
    /// `context` to `path`.
    pub fn io<'a>(
        container: &'a str,
        context: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> ContainerError + 'a {
        move |source| ContainerError::Io {
            container: container.to_string(),
            source: PathError::new(context, path, source),
        }
    }
}

/// The `Localhost` seccomp profile `path` (relative to `<root>/seccomp/`),
/// read and checked as an OCI seccomp section.
pub fn localhost_seccomp(
    root: &std::path::Path,
    container: &str,
    path: &str,
) -> Result<serde_json::Value, ContainerError> {
    let file = root.join("seccomp").join(path);
    let text = std::fs::read(&file).map_err(ContainerError::io(
        container,
        "read seccomp profile",
        &file,
    ))?;
    let profile: oci_spec::runtime::LinuxSeccomp = serde_json::from_slice(&text).map_err(|e| {
        spec_error(
            container,
            format!("seccomp profile {}: {e}", file.display()),
        )
    })?;
    Ok(serde_json::to_value(profile).expect("a seccomp profile serialises"))
}

/// Make `dir` afresh for a run of a container: `dir/empty`, bound
/// read-only over the masked folders, and `dir/cgroup` holding a folder
/// for each of `cgroup_folders`, bound read-only at `/sys/fs/cgroup` (see
/// [`security::read_only_cgroups`]). Afresh, because a container allowed
/// CAP_SYS_ADMIN may remount its binds writable: what it leaves goes with
/// its run, as its writable layer does. On tmpfs (the bundle's folder): an
/// ext4 folder would cost a block to allocate and, with `discard`, to trim.
pub fn make_mount_points(
    container: &str,
    dir: &std::path::Path,
    cgroup_folders: &[String],
) -> Result<(), ContainerError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ContainerError::io(
                container,
                "remove old mount points",
                dir,
            )(e));
        }
        _ => {}
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o755).recursive(true);
    let cgroup = dir.join("cgroup");
    let folders = [dir.join("empty"), cgroup.clone()]
        .into_iter()
        .chain(cgroup_folders.iter().map(|name| cgroup.join(name)));
    for folder in folders {
        builder.create(&folder).map_err(ContainerError::io(
            container,
            "make mount point",
            &folder,
        ))?;
    }
    Ok(())
}

fn config_error(container: &str, message: impl Into<String>) -> ContainerError {
    ContainerError::Config {
        container: container.to_string(),
        message: message.into(),
    }
}

fn spec_error(container: &str, message: impl Into<String>) -> ContainerError {
    ContainerError::Spec {
        container: container.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod fixtures {
    //! A container and an image for the unit tests of this module's files.

    use crate::pod::ResolvedImage;
    use crate::spec::{Container, Resources, SecurityContext};

    pub fn container(command: Option<&[&str]>, args: Option<&[&str]>) -> Container {
        Container {
            name: "c".into(),
            image: "busybox".into(),
            image_pull_policy: "IfNotPresent".into(),
            command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
            args: args.map(|c| c.iter().map(|s| s.to_string()).collect()),
            env: Vec::new(),
            env_from: Vec::new(),
            working_dir: None,
            volume_mounts: vec![],
            resources: Resources::default(),
            security: SecurityContext::default(),
            restart_policy: None,
            pre_stop: None,
            liveness_probe: None,
            readiness_probe: None,
            startup_probe: None,
            ports: vec![],
            post_start: None,
            stdin: false,
            stdin_once: false,
            tty: false,
            termination_message_path: "/dev/termination-log".into(),
            termination_message_policy: Default::default(),
        }
    }

    pub fn image() -> ResolvedImage {
        ResolvedImage {
            reference: "busybox:latest".into(),
            digest: "sha256:x".into(),
            layers: vec![],
            entrypoint: vec!["/entry".into()],
            cmd: vec!["default".into()],
            env: vec!["PATH=/image".into(), "B=2".into()],
            working_dir: "/".into(),
            user: String::new(),
            stop_signal: None,
        }
    }
}
