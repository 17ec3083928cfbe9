//! A container's root filesystem: the image's unpacked layers as read-only
//! overlayfs `lowerdir`s under a per-container `upperdir`/`workdir`, so
//! containers of one image share the layers and never see each other's writes.

use crate::fsutil::PathError;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::Error;

/// Mount an overlay at `target`: `layers` bottom first, writes going to `upper`
/// (with `work` as overlayfs's work folder). All folders must exist.
///
/// The overlay is `volatile` (Linux 5.10): it never syncs `upper`, whose
/// writes are a container's own and go with it (a restarted container gets
/// a new layer, a host that crashed runs no container). Otherwise its
/// unmount at every container's end syncs the whole file system `upper` is
/// on, and every `fsync` in a container does. An older kernel, which does
/// not know the option, gets the overlay without it.
pub fn mount_rootfs(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), Error> {
    let lower: Vec<String> = layers.iter().rev().map(|p| escape(p)).collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape(upper),
        escape(work)
    );
    let overlay = |options: &str| {
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(options),
        )
    };
    match overlay(&format!("{options},volatile")) {
        Err(nix::errno::Errno::EINVAL) => overlay(&options),
        done => done,
    }
    .map_err(|e| Error::Io(PathError::new("mount overlay at", target, e.into())))
}

/// Mount the one layer `layer` at `target`, read-only (no set-uid, no
/// device files): a root filesystem for a process that writes nothing,
/// without an overlay's upper and work folders.
pub fn mount_read_only(layer: &Path, target: &Path) -> Result<(), Error> {
    let failed =
        |e: nix::errno::Errno| Error::Io(PathError::new("bind-mount a layer at", target, e.into()));
    mount(
        Some(layer),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(failed)?;
    let read_only = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, target, None::<&str>, read_only, None::<&str>).map_err(|e| {
        let _ = umount2(target, MntFlags::MNT_DETACH);
        failed(e)
    })
}

/// Unmount a root filesystem mounted by [`mount_rootfs`] or [`mount_read_only`] (lazily, so that a
/// busy mount cannot block a pod's deletion).
pub fn unmount_rootfs(target: &Path) -> Result<(), Error> {
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::Io(PathError::new("unmount", target, e.into()))),
    }
}

/// overlayfs separates options with `,` and layers with `:`; both are escaped with `\`.
fn escape(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
