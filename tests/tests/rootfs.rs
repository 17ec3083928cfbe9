//! rootfs-tools: the busybox root filesystem and the OCI layouts it writes,
//! checked by running busybox and by an independent reader (Debian's umoci).

use std::process::Command;

use tests::{bin, output, workspace};

fn build_busybox(dir: &std::path::Path) -> String {
    let (code, out, err) = output(
        Command::new(bin("rootfs-tools"))
            .arg("busybox")
            .arg("--out")
            .arg(dir.join("layout"))
            .arg("--rootfs")
            .arg(dir.join("rootfs"))
            .arg("--cache")
            .arg(workspace().join("target/cache")),
    );
    assert_eq!(code, 0, "{err}");
    out.split_whitespace()
        .nth(1)
        .expect("digest printed")
        .to_string()
}

#[test]
fn busybox_rootfs_runs_chrooted_and_has_the_expected_tree() {
    let dir = tempfile::tempdir().unwrap();
    build_busybox(dir.path());
    let rootfs = dir.path().join("rootfs");
    let (code, out, err) = output(Command::new("chroot").arg(&rootfs).args([
        "/bin/busybox",
        "sh",
        "-c",
        "ls / && echo ok",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l == "bin") && out.ends_with("ok\n"),
        "{out}"
    );
    let (_, out, _) = output(Command::new("chroot").arg(&rootfs).args(["/bin/sh", "-c", "stat -c '%a %n' /tmp /proc /sys /dev /root /var; cat /etc/passwd /etc/group; which wget ls"]));
    for line in [
        "1777 /tmp",
        "root:x:0:0:root:/root:/bin/sh",
        "nobody:x:65534:",
        "/bin/ls",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
}

#[test]
fn building_twice_gives_the_same_digest() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = build_busybox(one.path());
    let second = build_busybox(two.path());
    assert!(first.starts_with("sha256:"), "{first}");
    assert_eq!(first, second);
}

#[test]
fn umoci_reads_the_busybox_layout() {
    let dir = tempfile::tempdir().unwrap();
    build_busybox(dir.path());
    let image = format!("{}:latest", dir.path().join("layout").display());
    let (code, out, err) = output(
        Command::new("umoci")
            .args(["ls", "--layout"])
            .arg(dir.path().join("layout")),
    );
    assert_eq!((code, out.trim()), (0, "latest"), "{err}");
    let bundle = dir.path().join("bundle");
    let (code, _, err) = output(
        Command::new("umoci")
            .args(["unpack", "--image", &image])
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{err}");
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["sh"]));
    assert!(
        config["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("PATH=/usr/local/sbin"))
    );
}

#[test]
fn pause_image_holds_exactly_one_file_and_the_dev_mountpoint() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("pause");
    let (code, _, err) = output(
        Command::new(bin("rootfs-tools"))
            .arg("pause")
            .arg("--binary")
            .arg(bin("pause"))
            .arg("--out")
            .arg(&layout),
    );
    assert_eq!(code, 0, "{err}");
    let bundle = dir.path().join("bundle");
    let (code, _, err) = output(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{err}");
    let mut names: Vec<_> = std::fs::read_dir(bundle.join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["dev", "pause"]);
    let dev = bundle.join("rootfs/dev");
    assert!(dev.is_dir() && std::fs::read_dir(&dev).unwrap().next().is_none());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["/pause"]));
}

#[test]
fn busybox_from_the_debian_package_without_touching_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (code, _, err) = output(
        Command::new(bin("rootfs-tools"))
            .args(["busybox", "--from-deb", "--out"])
            .arg(dir.path().join("layout"))
            .arg("--rootfs")
            .arg(dir.path().join("rootfs"))
            .arg("--cache")
            .arg(&cache),
    );
    assert_eq!(code, 0, "{err}");
    let debs: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("busybox-static_") && n.ends_with(".deb"))
        .collect();
    assert_eq!(
        debs.len(),
        1,
        "the .deb is downloaded into the cache: {debs:?}"
    );
    let (code, out, _) = output(
        Command::new("chroot")
            .arg(dir.path().join("rootfs"))
            .args(["/bin/sh", "-c", "echo ok"]),
    );
    assert_eq!((code, out.as_str()), (0, "ok\n"));
}
