//! A busybox root filesystem from Debian's `busybox-static` package.
//!
//! The binary comes from the host's `/bin/busybox` when that is the static
//! build, else from `busybox-static`'s `.deb`, fetched with `apt-get download`
//! into a cache folder and unpacked with `dpkg-deb`, so the host is not changed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, IoContext, Result, elf};

/// The `/etc/passwd` of the image: root and nobody.
pub const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
/// The `/etc/group` of the image: root and nobody.
pub const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

/// Find a static busybox binary: the host's when static (unless `from_deb`),
/// else one unpacked from `busybox-static`'s `.deb` downloaded into `cache`.
pub fn find_static_busybox(cache: &Path, from_deb: bool) -> Result<PathBuf> {
    let host = Path::new("/bin/busybox");
    if !from_deb && host.exists() && elf::is_static(host)? {
        return Ok(host.to_path_buf());
    }
    let unpacked = cache.join("busybox-static/bin/busybox");
    if unpacked.exists() && elf::is_static(&unpacked)? {
        return Ok(unpacked);
    }
    std::fs::create_dir_all(cache).ctx("create cache folder", cache)?;
    run(Command::new("apt-get")
        .args(["download", "busybox-static"])
        .current_dir(cache))?;
    let deb = std::fs::read_dir(cache)
        .ctx("read cache folder", cache)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("busybox-static_") && n.ends_with(".deb"))
        })
        .ok_or_else(|| {
            Error::NoBusybox(format!(
                "apt-get download left no busybox-static .deb in {}",
                cache.display()
            ))
        })?;
    let dest = cache.join("busybox-static");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dest))?;
    if !elf::is_static(&unpacked)? {
        return Err(Error::NoBusybox(format!(
            "{} is not statically linked",
            unpacked.display()
        )));
    }
    Ok(unpacked)
}

/// Lay out a busybox root filesystem in `out` (which must not exist or be
/// empty): `/bin/busybox`, a hard link for every applet it reports, `/etc/passwd`,
/// `/etc/group`, and empty `/proc`, `/sys`, `/dev`, `/tmp` (1777), `/root`, `/var`.
pub fn build_rootfs(busybox: &Path, out: &Path) -> Result<()> {
    for (dir, mode) in [
        ("bin", 0o755),
        ("sbin", 0o755),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("var", 0o755),
    ] {
        let path = out.join(dir);
        std::fs::create_dir_all(&path).ctx("create", &path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .ctx("chmod", &path)?;
    }
    let target = out.join("bin/busybox");
    std::fs::copy(busybox, &target).ctx("copy busybox to", &target)?;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .ctx("chmod", &target)?;

    let listing = run(Command::new(busybox).arg("--list-full"))?;
    for applet in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let link = out.join(applet);
        if link == target || link.exists() {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).ctx("create", parent)?;
        }
        std::fs::hard_link(&target, &link).ctx("link applet", &link)?;
    }
    write_file(&out.join("etc/passwd"), PASSWD)?;
    write_file(&out.join("etc/group"), GROUP)?;
    Ok(())
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content).ctx("write", path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).ctx("chmod", path)
}

fn run(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| Error::Command {
        command: shown.clone(),
        detail: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: shown,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
