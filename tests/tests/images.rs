//! The image store through the real podctl: import of layouts and archives,
//! digest checks, hostile layers, whiteouts as the kernel's overlayfs shows them.

use std::path::Path;
use std::process::Command;

use tests::{Entry, Root, bin, output, raw_tar, tree, workspace, write_layout};

fn busybox_layout() -> std::path::PathBuf {
    let path = workspace().join("target/images/busybox");
    assert!(
        path.join("index.json").exists(),
        "{} is missing: run `cargo xtask images`",
        path.display()
    );
    path
}

fn copy_dir(from: &Path, to: &Path) {
    let (code, _, err) = output(Command::new("cp").arg("-a").arg(from).arg(to));
    assert_eq!(code, 0, "{err}");
}

/// Write an OCI layout of `layers` and `podctl image import` it as `name`;
/// returns the exit code and stderr.
fn import_layers(root: &Root, name: &str, layers: &[Vec<u8>]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    write_layout(dir.path(), "latest", layers);
    let (code, _, err) = root.import_named(dir.path(), name);
    (code, err)
}

#[test]
fn a_fresh_store_has_the_pause_image_and_imports_busybox() {
    let root = Root::new();
    let (code, out, err) = root.podctl(&["image", "ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("podctl/pause ")), "{out}");

    let (code, out, err) = root.podctl(&["image", "import", busybox_layout().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("busybox:latest\tsha256:"), "{out}");
    let (_, out, _) = root.podctl(&["image", "ls"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"]);
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("busybox "))
        .expect("busybox listed")
        .split_whitespace()
        .collect();
    assert_eq!(&row[..2], ["busybox", "latest"]);
    assert_eq!(row[2].len(), 12);

    let (code, out, err) = root.podctl(&["image", "inspect", "busybox"]);
    assert_eq!(code, 0, "{err}");
    let config: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(config["os"], "linux");

    // Unpacked once into the shared cache; the busybox binary is there.
    let (code, out, err) = root.podctl(&["image", "unpack", "busybox"]);
    assert_eq!(code, 0, "{err}");
    let layer = Path::new(out.trim());
    assert!(
        layer.join("bin/busybox").is_file() && layer.starts_with(root.path()),
        "{out}"
    );
}

#[test]
fn unknown_images_exit_3_with_the_fix() {
    let root = Root::new();
    for args in [
        &["image", "inspect", "nope"][..],
        &["image", "rm", "nope:1"],
        &["image", "unpack", "nope"],
    ] {
        let (code, _, err) = root.podctl(args);
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(
            err.contains("not present, import it with `podctl image import"),
            "{err}"
        );
    }
}

#[test]
fn archives_plain_and_gzip_import_under_a_given_name() {
    let root = Root::new();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("busybox.tar");
    let (code, _, err) = output(
        Command::new("tar")
            .arg("-cf")
            .arg(&plain)
            .arg("-C")
            .arg(busybox_layout())
            .arg("."),
    );
    assert_eq!(code, 0, "{err}");
    let gzip = dir.path().join("bb.tar.gz");
    let (code, _, err) = output(
        Command::new("tar")
            .arg("-czf")
            .arg(&gzip)
            .arg("-C")
            .arg(busybox_layout())
            .arg("."),
    );
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = root.podctl(&[
        "image",
        "import",
        plain.to_str().unwrap(),
        "--name",
        "mybox:1.0",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("mybox:1.0\t"), "{out}");
    let (code, out, err) = root.podctl(&["image", "import", gzip.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("busybox:latest\t"),
        "the layout's own name: {out}"
    );
    let (_, out, _) = root.podctl(&["image", "ls"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("mybox ") && l.contains(" 1.0 ")),
        "{out}"
    );
}

#[test]
fn an_image_repacked_by_umoci_imports() {
    let root = Root::new();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    copy_dir(&busybox_layout(), &layout);
    let bundle = dir.path().join("bundle");
    let image = format!("{}:latest", layout.display());
    let (code, _, err) = output(
        Command::new("umoci")
            .args(["unpack", "--image", &image])
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{err}");
    std::fs::write(bundle.join("rootfs/hello.txt"), "made by umoci\n").unwrap();
    let (code, _, err) = output(
        Command::new("umoci")
            .args(["repack", "--image"])
            .arg(format!("{}:extra", layout.display()))
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = root.podctl(&["image", "import", layout.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("busybox:extra\t"), "{out}");
    // It runs in a pod, and the pod sees the file umoci added.
    let (code, _, err) = root.run_manifest(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: umoci}\nspec:\n  containers:\n  - {name: c, image: 'busybox:extra', command: [sh, -c, 'cat /hello.txt; sleep 3600']}\n",
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(root.wait_logs("umoci", "c", "umoci"), "made by umoci\n");
    let (code, _, err) = root.podctl(&["image", "rm", "busybox:extra"]);
    assert_eq!(code, 1, "an image in use is not removed");
    assert!(err.contains("used by pod(s) default/umoci"), "{err}");
    root.podctl(&["delete", "pod", "umoci", "--grace-period", "0"]);
    let (code, out, err) = root.podctl(&["image", "unpack", "busybox:extra"]);
    assert_eq!(code, 0, "{err}");
    let layers: Vec<&str> = out.lines().collect();
    assert_eq!(layers.len(), 2, "umoci adds a layer: {out}");
    assert_eq!(
        std::fs::read_to_string(Path::new(layers[1]).join("hello.txt")).unwrap(),
        "made by umoci\n"
    );
}

#[test]
fn a_flipped_byte_fails_the_import_naming_the_blob_and_imports_nothing() {
    let root = Root::new();
    root.podctl(&["image", "ls"]);
    let blobs_before = tree(&root.path().join("images/blobs"));
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (_, diff_ids) = write_layout(
        &layout,
        "latest",
        &[raw_tar(&[Entry::File("hello", b"hello world")])],
    );
    assert_eq!(diff_ids.len(), 1);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&manifest_digest[7..])).unwrap(),
    )
    .unwrap();
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layer_path = layout.join("blobs/sha256").join(&layer_digest[7..]);
    let mut bytes = std::fs::read(&layer_path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&layer_path, bytes).unwrap();

    let (code, out, err) = root.podctl(&[
        "image",
        "import",
        layout.to_str().unwrap(),
        "--name",
        "corrupt",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&layer_digest) && err.contains("does not match its descriptor"),
        "{err}"
    );
    let (_, out, _) = root.podctl(&["image", "ls"]);
    assert!(!out.contains("corrupt"), "{out}");
    assert_eq!(
        tree(&root.path().join("images/blobs")),
        blobs_before,
        "no blob of the failed import is kept"
    );
    assert_eq!(
        tree(&root.path().join("images/tmp")),
        Vec::<String>::new(),
        "no staging is left"
    );
}

#[test]
fn hostile_layers_are_refused_and_write_nothing_outside_the_cache() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let target_str = target.to_str().unwrap().to_string();
    let escape = format!("{}/evil-absolute", target_str);
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            raw_tar(&[
                Entry::Dir("ok"),
                Entry::File(
                    "ok/../../../../../../../../../../../../tmp/evil-dotdot",
                    b"x",
                ),
            ]),
        ),
        ("absolute", raw_tar(&[Entry::File(&escape, b"x")])),
        (
            "symlink",
            raw_tar(&[
                Entry::Symlink("link", &target_str),
                Entry::File("link/evil-symlink", b"x"),
            ]),
        ),
    ];
    for (name, layer) in hostile {
        let root = Root::new();
        let (code, err) = import_layers(&root, name, &[layer]);
        assert_eq!(code, 0, "{name}: import only checks digests: {err}");
        let (code, _, err) = root.podctl(&["image", "unpack", name]);
        assert_eq!(code, 1, "{name}: must be refused");
        assert!(err.contains("refused entry"), "{name}: {err}");
        assert!(
            tree(&target).is_empty(),
            "{name}: wrote outside: {:?}",
            tree(&target)
        );
        assert!(
            !Path::new("/tmp/evil-dotdot").exists(),
            "{name}: wrote /tmp/evil-dotdot"
        );
        let layers = tree(&root.path().join("images/layers/sha256"));
        assert!(
            layers.is_empty(),
            "{name}: no partial layer is kept: {layers:?}"
        );
    }
}

/// Two layers: the lower has a/x, a/y, gone, opq/old; the upper deletes gone
/// and a/x and makes opq opaque with opq/new.
fn whiteout_layers() -> (Vec<u8>, Vec<u8>) {
    let lower = raw_tar(&[
        Entry::Dir("a/"),
        Entry::File("a/x", b"x"),
        Entry::File("a/y", b"y"),
        Entry::File("gone", b"gone"),
        Entry::Dir("opq/"),
        Entry::File("opq/old", b"old"),
    ]);
    let upper = raw_tar(&[
        Entry::File(".wh.gone", b""),
        Entry::File("a/.wh.x", b""),
        Entry::Dir("opq/"),
        Entry::File("opq/.wh..wh..opq", b""),
        Entry::File("opq/new", b"new"),
    ]);
    (lower, upper)
}

#[test]
fn whiteouts_and_opaque_folders_show_right_in_an_overlay_of_the_layers() {
    let root = Root::new();
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper) = whiteout_layers();
    write_layout(dir.path(), "latest", &[lower, upper]);
    let (code, _, err) = root.podctl(&[
        "image",
        "import",
        dir.path().to_str().unwrap(),
        "--name",
        "wh",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = root.podctl(&["image", "unpack", "wh"]);
    assert_eq!(code, 0, "{err}");
    let layers: Vec<&str> = out.lines().collect();

    // Mount the layers as a container's root is mounted: upper layer first.
    let work = tempfile::tempdir_in(root.path()).unwrap();
    for sub in ["upper", "work", "merged"] {
        std::fs::create_dir(work.path().join(sub)).unwrap();
    }
    let merged = work.path().join("merged");
    let options = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        layers[1],
        layers[0],
        work.path().join("upper").display(),
        work.path().join("work").display()
    );
    let (code, _, err) = output(
        Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&merged),
    );
    assert_eq!(code, 0, "{err}");
    let seen = tree(&merged);
    let _ = Command::new("umount").arg(&merged).status();
    assert_eq!(
        seen,
        ["a", "a/y", "opq", "opq/new"],
        "whiteouts hide gone and a/x; opq hides old"
    );
}

/// The busybox image's layer, uncompressed.
fn busybox_layer() -> Vec<u8> {
    use std::io::Read;
    let layout = busybox_layout();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob =
        |digest: &str| std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let gz = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    tar
}

#[test]
fn a_container_sees_whiteouts_applied_and_its_writes_stay_its_own() {
    let root = Root::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper) = whiteout_layers();
    write_layout(dir.path(), "latest", &[busybox_layer(), lower, upper]);
    let (code, _, err) = root.podctl(&[
        "image",
        "import",
        dir.path().to_str().unwrap(),
        "--name",
        "wh",
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: wh}\nspec:\n  containers:\n  - {name: one, image: wh, command: [sh, -c, 'ls /gone 2>&1; find /a /opq | sort; echo mine > /a/y; sleep 3600']}\n  - {name: two, image: wh, command: [sh, -c, 'sleep 1; cat /a/y; echo; sleep 3600']}\n";
    let (code, _, err) = root.run_manifest(manifest, &[]);
    assert_eq!(code, 0, "{err}");
    let one = root.wait_logs("wh", "one", "/opq/new");
    assert_eq!(
        one.lines().skip(1).collect::<Vec<_>>(),
        ["/a", "/a/y", "/opq", "/opq/new"],
        "{one}"
    );
    assert!(
        one.lines().next().unwrap().contains("No such file"),
        "{one}"
    );
    assert_eq!(
        root.wait_logs("wh", "two", "y"),
        "y\n",
        "a write in one container is not seen by another"
    );
}

#[test]
fn rm_removes_the_name_and_unused_layers_and_keeps_shared_ones() {
    let root = Root::new();
    let layout = busybox_layout();
    root.podctl(&["image", "import", layout.to_str().unwrap()]);
    root.podctl(&[
        "image",
        "import",
        layout.to_str().unwrap(),
        "--name",
        "copy",
    ]);
    let (_, out, _) = root.podctl(&["image", "unpack", "busybox"]);
    let layer = out.trim().to_string();
    let (code, out, err) = root.podctl(&["image", "rm", "busybox"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Untagged: busybox:latest\n");
    assert!(
        Path::new(&layer).exists(),
        "copy:latest still uses the layer"
    );
    let (code, _, err) = root.podctl(&["image", "rm", "copy"]);
    assert_eq!(code, 0, "{err}");
    assert!(!Path::new(&layer).exists(), "the unused layer is removed");
    let (_, out, _) = root.podctl(&["image", "ls"]);
    assert_eq!(
        out.lines().count(),
        2,
        "only the pause image is left: {out}"
    );
}

#[test]
fn podctl_needs_root() {
    let (code, _, err) = output(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin("podctl"))
            .args(["image", "ls"]),
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "podctl: must run as root (pods need namespaces, mounts and cgroups)\n"
    );
}

#[test]
fn whiteouts_of_dot_and_dotdot_are_refused_and_remove_no_other_layer() {
    let root = Root::with_busybox();
    root.start(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: keeper}\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n",
        &[],
    );
    let layers_dir = root.path().join("images/layers/sha256");
    let before = tree(&layers_dir);
    assert!(!before.is_empty(), "busybox's layer is unpacked");
    for (name, whiteout) in [
        ("dotdot", "sub/.wh..."),
        ("dot", "sub/.wh.."),
        ("empty", "sub/.wh."),
    ] {
        let layer = raw_tar(&[
            Entry::Dir("sub/"),
            Entry::File("sub/kept", b"x"),
            Entry::File(whiteout, b""),
        ]);
        let (code, err) = import_layers(&root, name, &[layer]);
        assert_eq!(code, 0, "{name}: {err}");
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - {{name: c, image: {name}, command: [sh]}}\n"
        );
        let (code, _, err) = root.run_manifest(&manifest, &[]);
        assert_eq!(code, 1, "{name}: must be refused: {err}");
        assert!(err.contains("refused entry"), "{name}: {err}");
        assert_eq!(
            tree(&layers_dir),
            before,
            "{name}: the cache holds exactly the layers it had"
        );
        assert!(
            tree(&root.path().join("images/tmp")).is_empty(),
            "{name}: the staging folder is removed"
        );
    }
    // The running pod's root filesystem is intact.
    let pid = root.pid("keeper", "c");
    assert!(Path::new(&format!("/proc/{pid}/root/bin/busybox")).exists());
    let (code, out, err) = root.podctl(&["exec", "keeper", "--", "cat", "/bin/busybox"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.len() > 100_000);
}

#[test]
fn names_that_are_not_references_are_refused_on_import() {
    let root = Root::new();
    let dir = tempfile::tempdir().unwrap();
    write_layout(
        dir.path(),
        "../../x:latest",
        &[raw_tar(&[Entry::File("f", b"x")])],
    );
    let (code, _, err) = root.podctl(&["image", "import", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("\"../../x\"") && err.contains("not a valid name"),
        "{err}"
    );
    for bad in ["../../y", "a//b", "UPPER", "x/.hidden"] {
        let (code, _, err) = root.import_named(dir.path(), bad);
        assert_ne!(code, 0, "{bad}: {err}");
    }
    let (_, out, _) = root.podctl(&["image", "ls"]);
    assert!(!out.contains("../"), "{out}");
}

#[test]
fn a_layer_that_unpacks_past_its_limit_is_refused_and_leaves_nothing() {
    let root = Root::new();
    // 8 MiB of zeros: a few KiB compressed.
    let zeros = vec![0u8; 8 << 20];
    let (code, err) = import_layers(&root, "bomb", &[raw_tar(&[Entry::File("zeros", &zeros)])]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = output(
        root.command()
            .args(["image", "unpack", "bomb"])
            .env("PODCTL_MAX_LAYER_SIZE", "1Mi"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("decompression bomb") && err.contains("PODCTL_MAX_LAYER_SIZE"),
        "{err}"
    );
    assert!(tree(&root.path().join("images/layers/sha256")).is_empty());
    assert!(tree(&root.path().join("images/tmp")).is_empty());
    // Within the limit it unpacks.
    let (code, _, err) = root.podctl(&["image", "unpack", "bomb"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_image_with_too_many_layers_is_refused() {
    let root = Root::new();
    let layers: Vec<Vec<u8>> = (0..129)
        .map(|i| raw_tar(&[Entry::File(&format!("f{i}"), b"x")]))
        .collect();
    let (code, err) = import_layers(&root, "deep", &layers);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("129 layers") && err.contains("at most 128"),
        "{err}"
    );
}
