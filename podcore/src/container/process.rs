//! A container's process as Kubernetes makes it from the container and its
//! image: the arguments, the environment and the user.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
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
/// [`crate::env::resolve`]) on top (same name replaced), plus HOSTNAME, and
/// `HOME` (the user's, see [`ProcessUser::home`]) where neither sets one.
///
/// `HOME` is always set here: left unset, libcontainer's init would look it
/// up with glibc's `getpwuid_r` from inside the container, and glibc follows
/// the image's `/etc/nsswitch.conf` to load the image's NSS modules into
/// the runtime's process before the container's command runs.
pub fn process_env(
    image: &ResolvedImage,
    hostname: &str,
    env: &[(String, String)],
    home: &str,
) -> Vec<String> {
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
    match out.iter_mut().find(|(n, _)| n == "HOME") {
        Some((_, value)) if value.is_empty() => *value = home.to_string(),
        Some(_) => {}
        None => out.push(("HOME".into(), home.to_string())),
    }
    out.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

/// Who a container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    /// The home folder of `uid` in the image's `/etc/passwd`, else `/`, as
    /// runc and crun set `HOME`.
    pub home: String,
}

/// The largest `/etc/passwd` or `/etc/group` read from an image.
const USER_DB_LIMIT: u64 = 4 << 20;

/// The text of `file` (`etc/passwd`, `etc/group`) of the root filesystem at
/// `rootfs`, if it is a regular file there. Resolved inside the root
/// (`openat2` with `RESOLVE_IN_ROOT`): the image's symlinks lead to the
/// image's files, never the host's; opened without blocking, so a FIFO
/// cannot hold the start, and read up to [`USER_DB_LIMIT`].
fn read_in_root(rootfs: &Path, file: &str) -> Option<String> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    let dir = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    // SAFETY: open returned this fd and nothing else owns it.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(std::os::fd::AsRawFd::as_raw_fd(&dir), file, how).ok()?;
    // SAFETY: openat2 returned this fd and nothing else owns it.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(USER_DB_LIMIT).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The fields of the first line of a `/etc/passwd` or `/etc/group` text
/// whose field `index` is `value`.
fn entry<'a>(text: &'a str, index: usize, value: &str) -> Option<Vec<&'a str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(index) == Some(&value))
}

/// Resolve the user: runAsUser/runAsGroup, else the image's `User` (numeric,
/// or a name looked up in the root filesystem's /etc/passwd and /etc/group,
/// which is why it reads the mounted root), and its home folder.
pub fn process_user(
    container: &Container,
    image: &ResolvedImage,
    rootfs: &Path,
) -> Result<ProcessUser, ContainerError> {
    let (image_user, image_group) = image.user.split_once(':').unwrap_or((&image.user, ""));
    let passwd = read_in_root(rootfs, "etc/passwd").unwrap_or_default();
    let ids = |f: Vec<&str>| -> Option<(u32, u32)> {
        Some((
            f.get(2)?.parse().ok()?,
            f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
        ))
    };
    let (mut uid, mut gid) = (0, 0);
    if !image_user.is_empty() {
        let named = entry(&passwd, 0, image_user).and_then(ids);
        (uid, gid) = match image_user.parse::<u32>() {
            Ok(n) => (n, named.map_or(0, |(_, g)| g)),
            Err(_) => named.ok_or_else(|| {
                config_error(
                    &container.name,
                    format!("image user {image_user:?} is not in the image's /etc/passwd"),
                )
            })?,
        };
    }
    if !image_group.is_empty() {
        let group = read_in_root(rootfs, "etc/group").unwrap_or_default();
        gid = image_group
            .parse()
            .ok()
            .or_else(|| entry(&group, 0, image_group).and_then(|f| f.get(2)?.parse().ok()))
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
    let home = entry(&passwd, 2, &uid.to_string())
        .and_then(|f| f.get(5).filter(|h| !h.is_empty()).map(|h| h.to_string()))
        .unwrap_or_else(|| "/".into());
    Ok(ProcessUser { uid, gid, home })
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
        let env = process_env(&image(), "pod", &env(), "/root");
        assert_eq!(
            env,
            ["PATH=/mine", "B=2", "HOSTNAME=pod", "A=1", "HOME=/root"]
        );
    }

    #[test]
    fn home_is_the_user_s_unless_the_image_or_container_sets_one() {
        let mut set = env();
        set.push(("HOME".into(), "/data".into()));
        assert!(process_env(&image(), "pod", &set, "/root").contains(&"HOME=/data".into()));
        // An empty HOME is replaced, as runc does.
        set.last_mut().unwrap().1.clear();
        assert!(process_env(&image(), "pod", &set, "/root").contains(&"HOME=/root".into()));
    }

    #[test]
    fn the_user_and_home_come_from_the_image_s_passwd() {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir(rootfs.path().join("etc")).unwrap();
        std::fs::write(
            rootfs.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/srv/app:/bin/sh\nbare:x:1002:1002:::/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.path().join("etc/group"), "staff:x:50:\n").unwrap();
        let user = |name: &str| {
            let mut image = image();
            image.user = name.into();
            process_user(&container(None, None), &image, rootfs.path())
        };
        let found = |uid, gid, home: &str| ProcessUser {
            uid,
            gid,
            home: home.into(),
        };
        assert_eq!(user("").unwrap(), found(0, 0, "/root"));
        assert_eq!(user("app").unwrap(), found(1000, 1001, "/srv/app"));
        assert_eq!(user("1000:staff").unwrap(), found(1000, 50, "/srv/app"));
        assert_eq!(user("bare").unwrap(), found(1002, 1002, "/"));
        assert_eq!(user("4000").unwrap(), found(4000, 0, "/"));
        assert!(user("nobody").is_err());
        assert!(user("app:nogroup").is_err());
    }

    #[test]
    fn user_files_are_read_inside_the_root_and_only_when_regular() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("passwd"), "leak:x:7:7::/host:/bin/sh\n").unwrap();
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir(rootfs.path().join("etc")).unwrap();
        // An absolute link resolves inside the root, where it leads nowhere.
        std::os::unix::fs::symlink(host.path().join("passwd"), rootfs.path().join("etc/passwd"))
            .unwrap();
        assert_eq!(read_in_root(rootfs.path(), "etc/passwd"), None);
        // So does a relative one that climbs out.
        std::fs::remove_file(rootfs.path().join("etc/passwd")).unwrap();
        let climb = format!(
            "../../../../../../..{}",
            host.path().join("passwd").display()
        );
        std::os::unix::fs::symlink(&climb, rootfs.path().join("etc/passwd")).unwrap();
        assert_eq!(read_in_root(rootfs.path(), "etc/passwd"), None);
        // A FIFO is not waited on.
        std::fs::remove_file(rootfs.path().join("etc/passwd")).unwrap();
        nix::unistd::mkfifo(
            &rootfs.path().join("etc/passwd"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert_eq!(read_in_root(rootfs.path(), "etc/passwd"), None);
        // A link inside the root is followed there.
        std::fs::remove_file(rootfs.path().join("etc/passwd")).unwrap();
        std::fs::write(rootfs.path().join("etc/real"), "me:x:5:5::/me:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/real", rootfs.path().join("etc/passwd")).unwrap();
        assert_eq!(
            read_in_root(rootfs.path(), "etc/passwd").as_deref(),
            Some("me:x:5:5::/me:/bin/sh\n")
        );
    }
}
