//! Writing state that must survive: temp file, fsync, rename, fsync of the folder.

use std::io::Write;
use std::path::Path;

/// Replace `path` with `bytes` atomically: readers see the old or the new
/// content, never a mix, and a crash loses nothing that was acknowledged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// [`write_atomic`], the file with permission bits `mode` from its first byte.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// ext2/3/4's "top of a directory hierarchy" inode flag (`chattr +T`).
const FS_TOPDIR_FL: nix::libc::c_int = 0x0002_0000;

/// Ask the file system to place each new folder in `dir` as it places
/// folders at the top of its tree: ext2/3/4's allocator (Orlov) then spreads
/// them over its block groups, where it otherwise packs them, and all they
/// hold, into the group of `dir`. Every pod's folder goes under one such
/// folder, and a pod makes and frees some sixty inodes there. On an ext4
/// without a journal each new inode is checked against every inode of its
/// group freed in the last few minutes (`recently_deleted()`): packed into
/// one group, a pod's start paid for the churn of every pod started and
/// deleted before it, milliseconds and growing. Spread, a pod's folder
/// lands in a quiet group. Best effort: a file system without the flag
/// (tmpfs, xfs, btrfs) is left as it is.
pub fn spread_subfolders(dir: &Path) {
    use std::os::fd::AsRawFd;
    let Ok(folder) = std::fs::File::open(dir) else {
        return;
    };
    let mut flags: nix::libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int (the kernel's ABI, whatever
    // the request number's encoded size says) to the valid `flags`.
    if unsafe { nix::libc::ioctl(folder.as_raw_fd(), nix::libc::FS_IOC_GETFLAGS, &mut flags) } < 0
        || flags & FS_TOPDIR_FL != 0
    {
        return;
    }
    flags |= FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int from the valid `flags`.
    if unsafe { nix::libc::ioctl(folder.as_raw_fd(), nix::libc::FS_IOC_SETFLAGS, &flags) } < 0 {
        tracing::debug!(
            "folder {} keeps its allocation flags: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        super::write_atomic(&path, b"first, longer content").unwrap();
        super::write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file is left"
        );
    }
}

/// An I/O error with what was being done and to which path: the one shape
/// every module's errors use for a failed file system call.
#[derive(Debug, thiserror::Error)]
#[error("{context} {}: {source}", .path.display())]
pub struct PathError {
    pub context: &'static str,
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl PathError {
    pub fn new(context: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self {
            context,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A mapper for `map_err`: `.map_err(PathError::at("create", &dir))?`.
    pub fn at<'a>(
        context: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> PathError + 'a {
        move |source| PathError::new(context, path, source)
    }
}
