//! A container's process as Kubernetes makes it from the container and its
//! image: the arguments, the environment and the user.

use std::path::Path;

use super::{ContainerError, config_error};
use crate::pod::ResolvedImage;
use crate::spec::Container;

/// The environment variable holding the image's default `PATH` when it has none.
pub(super) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process arguments the Kubernetes way: `command` replaces the
/// Entrypoint, `args` replaces the Cmd (and `command` alone drops the Cmd);
/// `$(NAME)` in `command` and `args` is expanded from the container's
/// environment `env` (not the image's), as the kubelet does.
pub fn process_args(
    container: &Container,
    image: &ResolvedImage,
    env: &[(String, String)],
) -> Vec<String> {
    let expand = |text: &String| {
        crate::env::expand(text, |name| {
            env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })
    };
    match (&container.command, &container.args) {
        (Some(command), args) => command
            .iter()
            .chain(args.iter().flatten())
            .map(expand)
            .collect(),
        (None, Some(args)) => image
            .entrypoint
            .iter()
            .cloned()
            .chain(args.iter().map(expand))
            .collect(),
        (None, None) => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
    }
}

/// The image's env with the container's resolved `env` (see
/// [`crate::env::resolve`]) on top (same name replaced), plus HOSTNAME.
pub fn process_env(image: &ResolvedImage, hostname: &str, env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match out.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value.to_string(),
        None => out.push((name.to_string(), value.to_string())),
    };
    if !image.env.iter().any(|e| e.starts_with("PATH=")) {
        set("PATH", &DEFAULT_PATH[5..]);
    }
    for entry in &image.env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        set(name, value);
    }
    set("HOSTNAME", hostname);
    for (name, value) in env {
        set(name, value);
    }
    out.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

/// Resolve the user: runAsUser/runAsGroup, else the image's `User` (numeric,
/// or a name looked up in the root filesystem's /etc/passwd and /etc/group,
/// which is why it reads the mounted root).
pub fn process_user(
    container: &Container,
    image: &ResolvedImage,
    rootfs: &Path,
) -> Result<(u32, u32), ContainerError> {
    let (image_user, image_group) = image.user.split_once(':').unwrap_or((&image.user, ""));
    let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(rootfs.join(file)).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                Some((
                    f.get(2)?.parse().ok()?,
                    f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                ))
            })?
        })
    };
    let (mut uid, mut gid) = (0, 0);
    if !image_user.is_empty() {
        (uid, gid) = match image_user.parse::<u32>() {
            Ok(n) => (n, lookup("etc/passwd", image_user).map_or(0, |(_, g)| g)),
            Err(_) => lookup("etc/passwd", image_user).ok_or_else(|| {
                config_error(
                    &container.name,
                    format!("image user {image_user:?} is not in the image's /etc/passwd"),
                )
            })?,
        };
    }
    if !image_group.is_empty() {
        gid = image_group
            .parse()
            .ok()
            .or_else(|| lookup("etc/group", image_group).map(|(g, _)| g))
            .ok_or_else(|| {
                config_error(
                    &container.name,
                    format!("image group {image_group:?} is not in the image's /etc/group"),
                )
            })?;
    }
    if let Some(u) = container.security.run_as_user {
        uid = u;
    }
    if let Some(g) = container.security.run_as_group {
        gid = g;
    }
    if container.security.run_as_non_root && uid == 0 {
        return Err(config_error(
            &container.name,
            "runAsNonRoot is set but the container would run as root (uid 0): set runAsUser",
        ));
    }
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fixtures::{container, image};

    fn env() -> Vec<(String, String)> {
        vec![("PATH".into(), "/mine".into()), ("A".into(), "1".into())]
    }

    #[test]
    fn command_and_args_merge_the_kubernetes_way() {
        let args = |command, args| process_args(&container(command, args), &image(), &env());
        assert_eq!(args(None, None), ["/entry", "default"]);
        assert_eq!(args(None, Some(&["x"])), ["/entry", "x"]);
        assert_eq!(args(Some(&["sh"]), None), ["sh"]);
        assert_eq!(args(Some(&["sh"]), Some(&["-c", "y"])), ["sh", "-c", "y"]);
        // $(NAME) from the container's env, not the image's; $$ escapes.
        assert_eq!(
            args(Some(&["echo", "$(A)", "$(B)", "$$(A)"]), None),
            ["echo", "1", "$(B)", "$(A)"]
        );
    }

    #[test]
    fn env_layers_the_container_over_the_image() {
        let env = process_env(&image(), "pod", &env());
        assert_eq!(env, ["PATH=/mine", "B=2", "HOSTNAME=pod", "A=1"]);
    }
}
