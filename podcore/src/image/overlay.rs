//! A container's root filesystem: the image's unpacked layers as read-only
//! overlayfs `lowerdir`s under a per-container `upperdir`/`workdir`, so
//! containers of one image share the layers and never see each other's writes.

use crate::fsutil::PathError;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::Error;

/// Mount an overlay at `target`: `layers` bottom first, writes going to `upper`
/// (with `work` as overlayfs's work folder). All folders must exist.
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
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| Error::Io(PathError::new("mount overlay at", target, e.into())))
}

/// Unmount a root filesystem mounted by [`mount_rootfs`] (lazily, so that a
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
