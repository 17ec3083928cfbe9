//! Unpack one layer tar into a folder, safely: an image is untrusted input.
//!
//! OCI whiteouts become what overlayfs reads in a lower layer: `.wh.NAME` a
//! 0/0 character device `NAME`, `.wh..wh..opq` the `trusted.overlay.opaque=y`
//! attribute on its folder. An entry is refused when its path is absolute,
//! holds `..`, or would pass through a symlink (a symlink followed out);
//! a hard link must name a file inside the layer by the same rules.

use crate::fsutil::PathError;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{Gid, Uid};

use super::Error;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Unpack the tar stream `reader` into `dest` (an existing, empty folder).
/// `layer` names the layer in errors.
pub fn unpack_layer(reader: impl Read, dest: &Path, layer: &str) -> Result<(), Error> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| bad(layer, "", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(layer, "", e))?;
        let raw = entry.path().map_err(|e| bad(layer, "", e))?.into_owned();
        let Some(relative) = sanitize(&raw).map_err(|reason| unsafe_entry(layer, &raw, reason))?
        else {
            continue; // the layer's own root folder
        };
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let name = relative
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let parent = ensure_parents(
            dest,
            relative.parent().unwrap_or(Path::new("")),
            layer,
            &raw,
        )?;

        if name == OPAQUE {
            xattr::set(&parent, "trusted.overlay.opaque", b"y")
                .map_err(|e| io_error(layer, &raw, "mark opaque", e))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            // `.wh..`, `.wh...` and `.wh.` would white out the folder itself,
            // its parent or nothing: a whiteout names one entry of its folder.
            if matches!(hidden, "" | "." | "..") || hidden.contains('/') {
                return Err(unsafe_entry(
                    layer,
                    &raw,
                    "whiteout of `.`, `..` or nothing",
                ));
            }
            let target = parent.join(hidden);
            remove_existing(&target).map_err(|e| io_error(layer, &raw, "remove whited-out", e))?;
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(|e| io_error(layer, &raw, "create whiteout", e.into()))?;
            continue;
        }

        let target = parent.join(&name);
        let header = entry.header();
        let mode = header
            .mode()
            .map_err(|e| bad(layer, &raw.display().to_string(), e))?
            & 0o7777;
        let uid = header
            .uid()
            .map_err(|e| bad(layer, &raw.display().to_string(), e))? as u32;
        let gid = header
            .gid()
            .map_err(|e| bad(layer, &raw.display().to_string(), e))? as u32;
        let existing = std::fs::symlink_metadata(&target).ok();
        if existing
            .as_ref()
            .is_some_and(|meta| !(meta.is_dir() && kind == tar::EntryType::Directory))
        {
            remove_existing(&target).map_err(|e| io_error(layer, &raw, "replace", e))?;
        }
        match kind {
            tar::EntryType::Directory => {
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    std::fs::create_dir(&target)
                        .map_err(|e| io_error(layer, &raw, "create folder", e))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| io_error(layer, &raw, "create file", e))?;
                io::copy(&mut entry, &mut file)
                    .map_err(|e| io_error(layer, &raw, "write file", e))?;
            }
            tar::EntryType::Symlink => {
                let link = link_target(&entry, layer, &raw, "symlink without a target")?;
                // The target is stored, never followed here: it is resolved inside the container.
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| io_error(layer, &raw, "create symlink", e))?;
            }
            tar::EntryType::Link => {
                let link = link_target(&entry, layer, &raw, "hard link without a target")?;
                let source = sanitize(&link)
                    .map_err(|reason| unsafe_entry(layer, &raw, reason))?
                    .ok_or_else(|| unsafe_entry(layer, &raw, "hard link to the layer's root"))?;
                let source_parent =
                    ensure_parents(dest, source.parent().unwrap_or(Path::new("")), layer, &raw)?;
                let source = source_parent.join(source.file_name().unwrap_or_default());
                let meta = std::fs::symlink_metadata(&source)
                    .map_err(|e| io_error(layer, &raw, "find hard link target", e))?;
                if meta.is_dir() {
                    return Err(unsafe_entry(layer, &raw, "hard link to a folder"));
                }
                std::fs::hard_link(&source, &target)
                    .map_err(|e| io_error(layer, &raw, "create hard link", e))?;
                continue; // shares the target's inode: owner and mode are the target's
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                mknod(
                    &target,
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    makedev(major.into(), minor.into()),
                )
                .map_err(|e| io_error(layer, &raw, "create device node", e.into()))?;
            }
            other => {
                tracing::warn!(layer, path = %raw.display(), kind = ?other, "skipping tar entry of unsupported type");
                continue;
            }
        }
        nix::unistd::fchownat(
            None,
            &target,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_error(layer, &raw, "set owner of", e.into()))?;
        if kind != tar::EntryType::Symlink {
            // After chown, which clears set-user-ID bits.
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io_error(layer, &raw, "set mode of", e))?;
        }
    }
    Ok(())
}

/// A layer path made relative and checked: `Ok(None)` for the root itself.
fn sanitize(path: &Path) -> Result<Option<PathBuf>, &'static str> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("path holds `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok((!clean.as_os_str().is_empty()).then_some(clean))
}

/// Create the folders of `relative` below `dest` as needed, refusing to pass
/// through a symlink or a non-folder; returns the absolute parent folder.
fn ensure_parents(dest: &Path, relative: &Path, layer: &str, raw: &Path) -> Result<PathBuf, Error> {
    let mut current = dest.to_path_buf();
    for part in relative.components() {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_entry(layer, raw, "path passes through a symlink"));
            }
            Ok(_) => {
                return Err(unsafe_entry(
                    layer,
                    raw,
                    "path passes through a file that is not a folder",
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&current)
                    .map_err(|e| io_error(layer, raw, "create folder", e))?;
            }
            Err(e) => return Err(io_error(layer, raw, "inspect", e)),
        }
    }
    Ok(current)
}

fn remove_existing(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The target a link entry names; an entry without one is refused with `missing`.
fn link_target<'a, R: io::Read>(
    entry: &'a tar::Entry<R>,
    layer: &str,
    raw: &Path,
    missing: &'static str,
) -> Result<std::borrow::Cow<'a, Path>, Error> {
    entry
        .link_name()
        .map_err(|e| bad(layer, &raw.display().to_string(), e))?
        .ok_or_else(|| unsafe_entry(layer, raw, missing))
}

fn unsafe_entry(layer: &str, path: &Path, reason: &'static str) -> Error {
    Error::UnsafeLayerEntry {
        layer: layer.to_string(),
        path: path.display().to_string(),
        reason,
    }
}

fn bad(layer: &str, path: &str, source: io::Error) -> Error {
    Error::BadLayer {
        layer: layer.to_string(),
        path: path.to_string(),
        source,
    }
}

fn io_error(layer: &str, path: &Path, what: &'static str, source: io::Error) -> Error {
    let path = PathBuf::from(format!("{} (layer {layer})", path.display()));
    Error::Io(PathError::new(what, &path, source))
}

/// Open a file for reading, naming it on failure.
pub(crate) fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::Io(PathError::new("open", path, source)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_refuses_escapes() {
        assert_eq!(
            sanitize(Path::new("./a/b")).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(sanitize(Path::new("./")).unwrap(), None);
        assert!(sanitize(Path::new("../evil")).is_err());
        assert!(sanitize(Path::new("a/../../evil")).is_err());
        assert!(sanitize(Path::new("/etc/passwd")).is_err());
    }
}
