//! Images from a real registry (Debian's docker-registry on loopback, in
//! the test's network namespace), put there by an independent client
//! (skopeo) and by podctl's own push.

use std::os::unix::fs::PermissionsExt;

use tests::registry::{TestRegistry, busybox_layout, path_in};
use tests::{Root, output};

const PORT: u16 = 5000;

/// The digest of the busybox image's manifest, as the layout has it.
fn busybox_digest() -> String {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tests::workspace().join("target/images/busybox/index.json")).unwrap(),
    )
    .unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn images(root: &Root) -> Vec<serde_json::Value> {
    let (code, out, err) = root.podctl(&["image", "ls", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
}

fn has_image(root: &Root, name: &str) -> Option<String> {
    images(root).into_iter().find_map(|i| {
        let full = format!(
            "{}:{}",
            i["reference"]["name"].as_str()?,
            i["reference"]["tag"].as_str()?
        );
        (full == name).then(|| i["digest"].as_str().unwrap().to_string())
    })
}

fn pod_with(image: &str, policy: Option<&str>, name: &str) -> String {
    let policy = policy.map_or(String::new(), |p| format!("\n    imagePullPolicy: {p}"));
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: app\n    image: {image}{policy}\n    command: [sleep, '1000']\n"
    )
}

#[test]
fn pull_by_tag_and_by_digest_and_run() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(&root.netns, &busybox_layout(), "team/busybox:v1", &[]);
    let reference = format!("{}/team/busybox:v1", registry.host);
    let (code, out, err) = root.podctl(&["image", "pull", &reference]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(has_image(&root, &reference), Some(busybox_digest()));

    // By digest, in a pod: pulled by `run` (not present), and it runs.
    let by_digest = format!("{}/team/busybox@{}", registry.host, busybox_digest());
    let fresh = Root::new();
    let registry2 = TestRegistry::start(&fresh.netns, PORT, None);
    registry2.copy_in(&fresh.netns, &busybox_layout(), "team/busybox:v1", &[]);
    fresh.start(&pod_with(&by_digest, None, "pinned"), &[]);
    let status = fresh.container_status("pinned", "app");
    assert!(status["state"]["running"].is_object(), "{status}");
    assert_eq!(status["imageID"], busybox_digest());
    assert_eq!(status["image"], by_digest);
}

#[test]
fn docker_schema_2_images_pull_too() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(
        &root.netns,
        &busybox_layout(),
        "v2s2:1",
        &["--format", "v2s2"],
    );
    let reference = format!("{}/v2s2:1", registry.host);
    let (code, out, err) = root.podctl(&["image", "pull", &reference]);
    assert_eq!(code, 0, "{out}{err}");
    root.start(&pod_with(&reference, None, "docker"), &[]);
    let status = root.container_status("docker", "app");
    assert!(status["state"]["running"].is_object(), "{status}");
}

#[test]
fn credentials_from_a_config_file_and_from_login_and_none_refused() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, Some(("alice", "s3cret")));
    registry.copy_in(
        &root.netns,
        &busybox_layout(),
        "private/busybox:v1",
        &["--dest-creds", "alice:s3cret"],
    );
    let reference = format!("{}/private/busybox:v1", registry.host);
    let home = tempfile::tempdir().unwrap();
    let auth_file = path_in(home.path(), "auth.json");
    let with_auth = |args: &[&str]| {
        output(
            root.command()
                .env("REGISTRY_AUTH_FILE", &auth_file)
                .args(args),
        )
    };

    // No credential: refused, naming the cure; nothing stored.
    let (code, _, err) = with_auth(&["image", "pull", &reference]);
    assert_ne!(code, 0);
    assert!(
        err.contains("refused access") && err.contains("podctl login"),
        "{err}"
    );
    assert!(has_image(&root, &reference).is_none());

    // A Docker config file written by someone else.
    let docker_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        docker_dir.path().join("config.json"),
        r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcmV0"}}}"#,
    )
    .unwrap();
    let (code, out, err) = output(
        root.command()
            .env("DOCKER_CONFIG", docker_dir.path())
            .args(["image", "pull", &reference]),
    );
    assert_eq!(code, 0, "{out}{err}");

    // podctl login: a wrong password is refused, a right one stored 0600.
    let mut login = root.command();
    login.env("REGISTRY_AUTH_FILE", &auth_file).args([
        "login",
        &registry.host,
        "-u",
        "alice",
        "--password",
        "wrong",
    ]);
    let (code, _, err) = output(&mut login);
    assert_ne!(code, 0, "a wrong password is refused");
    assert!(err.contains("refused access"), "{err}");
    let (code, out, err) = with_auth(&["login", &registry.host, "-u", "alice", "-p", "s3cret"]);
    assert_eq!(code, 0, "{out}{err}");
    let mode = std::fs::metadata(&auth_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, _, err) = with_auth(&["image", "rm", &reference]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = with_auth(&["image", "pull", &reference]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = with_auth(&["logout", &registry.host]);
    assert_eq!(code, 0, "{err}");
    let stored = std::fs::read_to_string(&auth_file).unwrap();
    assert!(!stored.contains("127.0.0.1"), "{stored}");
}

#[test]
fn a_mirror_on_loopback_serves_another_registrys_image_under_its_own_name() {
    let root = Root::new();
    let mirror = TestRegistry::start(&root.netns, PORT, None);
    mirror.copy_in(&root.netns, &busybox_layout(), "pause:3.9", &[]);
    let config = root.path().join("registries.toml");
    std::fs::write(
        &config,
        format!(
            "[[registry]]\nprefix = \"registry.k8s.io\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
            mirror.host
        ),
    )
    .unwrap();
    let (code, out, err) = output(
        root.command()
            .arg("--registries-config")
            .arg(&config)
            .args(["image", "pull", "registry.k8s.io/pause:3.9"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        has_image(&root, "registry.k8s.io/pause:3.9"),
        Some(busybox_digest())
    );
    assert!(has_image(&root, &format!("{}/pause:3.9", mirror.host)).is_none());
}

#[test]
fn run_pulls_what_is_missing_never_refuses_and_always_checks_again() {
    let root = Root::with_busybox();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(&root.netns, &busybox_layout(), "app:v1", &[]);
    let reference = format!("{}/app:v1", registry.host);

    // Never, absent: refused before anything is made.
    let (code, _, err) = root.run_manifest(&pod_with(&reference, Some("Never"), "never"), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("ErrImageNeverPull") && err.contains("spec.containers[0].image"),
        "{err}"
    );
    assert!(
        root.podctl(&["get", "pod", "never"]).0 != 0,
        "no pod was made"
    );

    // IfNotPresent (the default for a tag other than latest): pulled once.
    root.start(&pod_with(&reference, None, "first"), &[]);
    let first = root.container_status("first", "app")["imageID"].clone();
    assert_eq!(first, busybox_digest());

    // The tag moves to another image (the same files as a docker archive:
    // uncompressed layers, another digest).
    let archive = tempfile::tempdir().unwrap();
    let tar = path_in(archive.path(), "busybox.tar");
    let (code, _, err) = output(root.netns.enter().args([
        "skopeo",
        "copy",
        &busybox_layout(),
        &format!("docker-archive:{tar}:app:v1"),
    ]));
    assert_eq!(code, 0, "{err}");
    registry.copy_in(&root.netns, &format!("docker-archive:{tar}"), "app:v1", &[]);

    root.start(&pod_with(&reference, None, "second"), &[]);
    assert_eq!(
        root.container_status("second", "app")["imageID"],
        first,
        "IfNotPresent keeps the stored image"
    );
    root.start(&pod_with(&reference, Some("Always"), "third"), &[]);
    let third = root.container_status("third", "app")["imageID"].clone();
    assert_ne!(third, first, "Always looked again and got the moved tag");
    assert!(root.container_status("third", "app")["state"]["running"].is_object());

    // A missing image: the run fails with the kubelet's reason, no pod left.
    let missing = format!("{}/nothere:v1", registry.host);
    let (code, _, err) = root.run_manifest(&pod_with(&missing, None, "missing"), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("ErrImagePull") && err.contains("no such repository or tag"),
        "{err}"
    );
    assert!(root.podctl(&["get", "pod", "missing"]).0 != 0);
}

/// An OCI layout whose index lists the busybox manifest under `platforms`.
fn multi_platform_layout(dir: &std::path::Path, platforms: &[(&str, &str)]) -> String {
    let source = tests::workspace().join("target/images/busybox");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for entry in std::fs::read_dir(source.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), blobs.join(entry.file_name())).unwrap();
    }
    let manifest = busybox_digest();
    let size = std::fs::metadata(blobs.join(manifest.trim_start_matches("sha256:")))
        .unwrap()
        .len();
    let manifests: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(os, arch)| serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": size, "platform": {"os": os, "architecture": arch}}))
        .collect();
    let nested = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})).unwrap();
    let digest = tests::sha256(&nested);
    std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), &nested).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": nested.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("oci:{}:multi", dir.display())
}

#[test]
fn a_multi_platform_index_gives_this_machines_image_or_names_its_platforms() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    let good = tempfile::tempdir().unwrap();
    let layout = multi_platform_layout(
        good.path(),
        &[("linux", "s390x"), ("linux", "amd64"), ("linux", "arm64")],
    );
    registry.copy_in(&root.netns, &layout, "multi:1", &["--all"]);
    let reference = format!("{}/multi:1", registry.host);
    let (code, out, err) = root.podctl(&["image", "pull", &reference]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(has_image(&root, &reference), Some(busybox_digest()));

    let other = tempfile::tempdir().unwrap();
    let layout = multi_platform_layout(other.path(), &[("linux", "s390x"), ("windows", "amd64")]);
    registry.copy_in(&root.netns, &layout, "elsewhere:1", &["--all"]);
    let (code, _, err) = root.podctl(&["image", "pull", &format!("{}/elsewhere:1", registry.host)]);
    assert_ne!(code, 0);
    assert!(
        err.contains("linux/s390x, windows/amd64"),
        "the platforms are named: {err}"
    );
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_is_stored() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(&root.netns, &busybox_layout(), "lying:1", &[]);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            tests::workspace()
                .join("target/images/busybox/blobs/sha256")
                .join(busybox_digest().trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let file = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let (code, _, err) = root.podctl(&["image", "pull", &format!("{}/lying:1", registry.host)]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&layer) && err.contains("does not verify"),
        "{err}"
    );
    assert!(has_image(&root, &format!("{}/lying:1", registry.host)).is_none());
    let stored = root
        .path()
        .join("images/blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    assert!(!stored.exists(), "the bad blob is not in the store");
    let staging: Vec<_> = std::fs::read_dir(root.path().join("images/tmp"))
        .unwrap()
        .collect();
    assert!(staging.is_empty(), "nothing half-written: {staging:?}");
}

#[test]
fn two_pulls_at_once_both_succeed_with_one_copy() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(&root.netns, &busybox_layout(), "twice:1", &[]);
    let reference = format!("{}/twice:1", registry.host);
    let spawn = || {
        root.command()
            .args(["image", "pull", &reference])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(has_image(&root, &reference), Some(busybox_digest()));
    let blobs: Vec<_> = std::fs::read_dir(root.path().join("images/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // Each blob once (the pause image's and busybox's).
    let unique: std::collections::BTreeSet<_> = blobs.iter().collect();
    assert_eq!(unique.len(), blobs.len());
    let staging: Vec<_> = std::fs::read_dir(root.path().join("images/tmp"))
        .unwrap()
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

#[test]
fn a_docker_archive_imports_and_runs() {
    let root = Root::new();
    let dir = tempfile::tempdir().unwrap();
    let tar = path_in(dir.path(), "saved.tar");
    let (code, _, err) = output(std::process::Command::new("skopeo").args([
        "copy",
        &busybox_layout(),
        &format!("docker-archive:{tar}:saved/busybox:1"),
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = root.podctl(&["image", "import", &tar]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(has_image(&root, "saved/busybox:1").is_some(), "{out}");
    root.start(&pod_with("saved/busybox:1", None, "saved"), &[]);
    assert!(root.container_status("saved", "app")["state"]["running"].is_object());
}

#[test]
fn push_then_pull_back_the_same_digest() {
    let root = Root::with_busybox();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    let target = format!("{}/pushed/busybox:v1", registry.host);
    let (code, out, err) = root.podctl(&["image", "push", "busybox", &target]);
    assert_eq!(code, 0, "{out}{err}");
    // An independent client sees it.
    let (code, out, err) = output(root.netns.enter().args([
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{target}"),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(tests::sha256(out.as_bytes()), busybox_digest());
    // Gone from the store (blobs too), then back from the registry.
    let (code, _, err) = root.podctl(&["image", "rm", "busybox"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = root.podctl(&["image", "pull", &target]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(has_image(&root, &target), Some(busybox_digest()));
}

#[test]
fn zstd_layers_pull_unpack_and_run() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(
        &root.netns,
        &busybox_layout(),
        "zstd:1",
        &["--format", "oci", "--dest-compress-format", "zstd"],
    );
    let reference = format!("{}/zstd:1", registry.host);
    let (code, out, err) = output(root.netns.enter().args([
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tar+zstd"), "skopeo made zstd layers: {out}");
    root.start(&pod_with(&reference, None, "zstd"), &[]);
    assert!(root.container_status("zstd", "app")["state"]["running"].is_object());
}

#[test]
fn prune_removes_what_no_pod_uses() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(&root.netns, &busybox_layout(), "used:1", &[]);
    registry.copy_in(
        &root.netns,
        &busybox_layout(),
        "unused:1",
        &["--format", "v2s2"],
    );
    let used = format!("{}/used:1", registry.host);
    let unused = format!("{}/unused:1", registry.host);
    root.start(&pod_with(&used, None, "user"), &[]);
    let (code, out, err) = root.podctl(&["image", "pull", &unused]);
    assert_eq!(code, 0, "{out}{err}");
    let blobs = || {
        std::fs::read_dir(root.path().join("images/blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    let (code, out, err) = root.podctl(&["image", "prune", "--all"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&unused) && !out.contains(&used), "{out}");
    assert!(has_image(&root, &unused).is_none());
    assert!(has_image(&root, &used).is_some(), "the pod's image stays");
    assert!(has_image(&root, &format!("podctl/pause:{}", "0.1.0")).is_some());
    assert!(blobs() < before, "the unused image's own blobs went");
}

#[test]
fn a_restart_pulls_again_and_a_failed_pull_waits_in_image_pull_back_off() {
    let root = Root::new();
    let registry = TestRegistry::start(&root.netns, PORT, None);
    registry.copy_in(&root.netns, &busybox_layout(), "flaky:v1", &[]);
    let reference = format!("{}/flaky:v1", registry.host);
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: flaky}}\nspec:\n  containers:\n  - name: app\n    image: {reference}\n    imagePullPolicy: Always\n    command: [sh, -c, 'sleep 0.3; exit 1']\n"
    );
    root.start(&manifest, &["--backoff", "300ms,600ms"]);
    // The image leaves the registry: the next restart cannot pull it.
    let (code, _, err) = output(root.netns.enter().args([
        "skopeo",
        "delete",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    assert_eq!(code, 0, "{err}");
    let waiting = |reason: &str| {
        tests::wait_for(std::time::Duration::from_secs(30), || {
            let status = root.container_status("flaky", "app");
            (status["state"]["waiting"]["reason"] == reason).then_some(status)
        })
    };
    let failed = waiting("ErrImagePull").expect("ErrImagePull after a failed pull");
    let message = failed["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("flaky"), "{failed}");
    waiting("ImagePullBackOff").expect("ImagePullBackOff after the next one");
    let (_, page, _) = root.podctl(&["describe", "pod", "flaky"]);
    assert!(page.contains("Failed to pull image"), "{page}");
    // It is back: the next retry pulls it and the container runs again.
    let restarts = root.container_status("flaky", "app")["restartCount"]
        .as_u64()
        .unwrap();
    registry.copy_in(&root.netns, &busybox_layout(), "flaky:v1", &[]);
    let again = tests::wait_for(std::time::Duration::from_secs(30), || {
        let status = root.container_status("flaky", "app");
        (status["restartCount"].as_u64() > Some(restarts)).then_some(status)
    });
    assert!(again.is_some(), "{}", root.container_status("flaky", "app"));
}

/// A host without CA certificates (here: none where rustls looks) gets an
/// error that names the fix, not a panic of the HTTP client's construction.
/// Nothing is sent: the client is never made, and the test's network
/// namespace reaches nothing anyway.
#[test]
fn a_host_without_ca_certificates_gets_an_error_not_a_panic() {
    let root = Root::new();
    let (code, _, err) = output(
        root.command()
            .args(["image", "pull", "registry.example/app:1"])
            .env("SSL_CERT_FILE", "/dev/null")
            .env("SSL_CERT_DIR", root.path().join("no-certificates")),
    );
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("registry.example") && err.contains("CA certificates"),
        "{err}"
    );
}
