//! ConfigMaps and Secrets on one host, as the kubelet gives them to a
//! container: in its environment (envFrom, configMapKeyRef, secretKeyRef,
//! the Downward API, `$(VAR)` expansion) and as read-only files, updated in
//! place when `podctl apply` changes them; a missing one holds the container
//! back (`CreateContainerConfigError`) or refuses the pod before it is made.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tests::{Root, example, wait_for};

/// `podctl exec POD -- sh -c SCRIPT`: its stdout, which must succeed.
fn sh(root: &Root, pod: &str, script: &str) -> String {
    let (code, out, err) = root.podctl(&["exec", pod, "--", "sh", "-c", script]);
    assert_eq!(code, 0, "exec {script}: {err}");
    out
}

#[test]
fn configmaps_and_secrets_reach_the_containers_env_and_files() {
    let root = Root::with_busybox();
    let (code, out, err) = root.run_manifest(&example("configmap-env-and-volume.yml"), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("Service web left out"),
        "one warning for the Service: {err}"
    );
    assert!(err.contains("configmap/web-settings created"), "{err}");
    assert!(err.contains("secret/web-credentials created"), "{err}");
    let pod = root.pod("configured");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let ip = pod["status"]["podIP"].as_str().unwrap();

    // The environment the container's process got.
    let pid = root.pid("configured", "app");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let env: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    for want in [
        "CFG_MODE=fast".to_string(),
        "POD_NAME=configured".into(),
        format!("POD_UID={uid}"),
        format!("POD_IP={ip}"),
        "TIER=front".into(),
        "TEAM=blue".into(),
        "CPU_LIMIT_M=500".into(),
        "MODE=fast".into(),
        "PASSWORD=hunter2".into(),
        "GREETING=pod configured runs in mode fast $(NOT_EXPANDED)".into(),
    ] {
        assert!(env.contains(&want), "{want} not in {env:?}");
    }
    // command was expanded from that env.
    root.wait_logs(
        "configured",
        "app",
        "pod configured runs in mode fast $(NOT_EXPANDED)",
    );

    // The files, their contents and modes, as the container sees them.
    let files = sh(
        &root,
        "configured",
        "cat /etc/web/html/index.html /etc/credentials/token; echo; cat /etc/credentials/password; echo; \
         cat /etc/podinfo/labels /etc/podinfo/mem_limit_mi; echo; cat /etc/all/mode /etc/all/secret/password /etc/all/name",
    );
    assert_eq!(
        files,
        "<h1>hello from a ConfigMap</h1>\nsecret-token\nhunter2\napp=\"web\"\ntier=\"front\"\n64\nfasthunter2configured"
    );
    let modes = sh(
        &root,
        "configured",
        "stat -L -c '%a %n' /etc/web/html/index.html /etc/credentials/password /etc/podinfo/labels",
    );
    assert_eq!(
        modes,
        "440 /etc/web/html/index.html\n400 /etc/credentials/password\n644 /etc/podinfo/labels\n"
    );
    // Read-only, as the kubelet mounts them.
    let (code, _, err) = root.podctl(&["exec", "configured", "--", "touch", "/etc/web/new"]);
    assert_ne!(code, 0, "a files volume must be read-only");
    assert!(err.contains("Read-only"), "{err}");

    // The Secret is kept private on the host: its stored object, and the
    // pod's folder holding its volume's files.
    let secret = root
        .path()
        .join("objects/default/secret/web-credentials.json");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&root.path().join("pods").join(uid)), 0o700);
}

const APPLIED: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: live}
data: {colour: blue}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  volumes: [{name: live, configMap: {name: live}}]
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    env: [{name: COLOUR, valueFrom: {configMapKeyRef: {name: live, key: colour}}}]
    volumeMounts: [{name: live, mountPath: /live}]
";

#[test]
fn apply_changes_a_configmap_and_its_volumes_follow_atomically() {
    let root = Root::with_busybox();
    let file = root.path().join("applied.yml");
    std::fs::write(&file, APPLIED).unwrap();
    let apply = || root.podctl(&["apply", "-f", file.to_str().unwrap()]);
    let (code, out, err) = apply();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "configmap/live created\npod/reader created\n");
    assert_eq!(sh(&root, "reader", "cat /live/colour"), "blue");
    let (code, out, err) = apply();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "configmap/live unchanged\n");
    assert!(err.contains("pod/reader exists"), "{err}");

    std::fs::write(&file, APPLIED.replace("colour: blue", "colour: green")).unwrap();
    let (code, out, err) = apply();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "configmap/live configured\n");
    // The file changed in place; the env of the running process did not (as the kubelet).
    assert_eq!(sh(&root, "reader", "cat /live/colour"), "green");
    assert_eq!(sh(&root, "reader", "echo $COLOUR"), "blue\n");
    let versions = sh(&root, "reader", "ls -a /live | grep -c '^\\.\\.2'");
    assert_eq!(versions, "1\n", "the old version is gone");
}

#[test]
fn a_missing_configmap_holds_the_container_until_it_is_created() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: waiting}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo level=$LEVEL; exec sleep 3600']
    env: [{name: LEVEL, valueFrom: {configMapKeyRef: {name: later, key: level}}}]
";
    root.start(manifest, &["--backoff", "200ms,1s"]);
    let status = root.container_status("waiting", "c");
    assert_eq!(
        status["state"]["waiting"]["reason"], "CreateContainerConfigError",
        "{status}"
    );
    assert_eq!(
        status["state"]["waiting"]["message"],
        "configmap \"later\" not found"
    );
    assert_eq!(root.pod("waiting")["status"]["phase"], "Pending");
    assert_eq!(status["restartCount"], 0);

    // A wrong key is named too.
    let (code, _, err) =
        root.podctl(&["create", "configmap", "later", "--from-literal", "other=1"]);
    assert_eq!(code, 0, "{err}");
    wait_for(Duration::from_secs(20), || {
        let message = root.container_status("waiting", "c")["state"]["waiting"]["message"].clone();
        (message == "couldn't find key level in ConfigMap default/later").then_some(())
    })
    .expect("the missing key is named");
    let (code, _, _) = root.podctl(&["delete", "configmap", "later"]);
    assert_eq!(code, 0);
    let (code, out, err) =
        root.podctl(&["create", "configmap", "later", "--from-literal", "level=7"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "configmap/later created\n"),
        "{err}"
    );
    root.wait_logs("waiting", "c", "level=7");
    assert_eq!(root.pod("waiting")["status"]["phase"], "Running");
    assert_eq!(root.container_status("waiting", "c")["restartCount"], 0);
}

#[test]
fn bad_objects_and_missing_volume_sources_are_refused_before_anything_is_made() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: nothing}
spec:
  volumes: [{name: cfg, configMap: {name: absent}}]
  containers: [{name: c, image: busybox, command: [sleep, '1'], volumeMounts: [{name: cfg, mountPath: /cfg}]}]
";
    let (code, _, err) = root.run_manifest(manifest, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("volume cfg: configmap \"absent\" not found"),
        "{err}"
    );
    let (_, list, _) = root.podctl(&["get", "pods", "-o", "name"]);
    assert_eq!(list, "", "no pod was made");

    // Keys and paths that would leave the volume are refused with their field.
    let escaping = "apiVersion: v1
kind: Pod
metadata: {name: escaping}
spec:
  volumes: [{name: cfg, configMap: {name: x, items: [{key: a, path: ../../etc/passwd}]}}]
  containers: [{name: c, image: busybox}]
";
    let (code, _, err) = root.run_manifest(escaping, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.volumes[0].configMap.items[0].path: \"../../etc/passwd\""),
        "{err}"
    );
    let (code, _, err) = root.podctl(&["create", "configmap", "bad", "--from-literal", "../k=v"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key \"../k\""), "{err}");
    assert!(
        !root
            .path()
            .join("objects/default/configmap/bad.json")
            .exists()
    );
    let (code, _, err) =
        root.podctl(&["create", "secret", "generic", "s", "--from-literal", "a=1"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = root.podctl(&["create", "secret", "s", "--from-literal", "a=1"]);
    assert_eq!(code, 1);
    assert!(err.contains("secret/s already exists"), "{err}");
}

#[test]
fn create_makes_objects_from_files_and_folders_and_get_shows_them() {
    let root = Root::with_busybox();
    let files = root.path().join("conf");
    std::fs::create_dir_all(files.join("dir")).unwrap();
    std::fs::write(files.join("nginx.conf"), "worker_processes 1;\n").unwrap();
    std::fs::write(files.join("dir/a.txt"), "A").unwrap();
    std::fs::write(files.join("dir/b.bin"), [0u8, 159, 146, 150]).unwrap();
    let at = |p: &str| files.join(p).display().to_string();
    let (code, out, err) = root.podctl(&[
        "create",
        "configmap",
        "web",
        "--from-file",
        &at("nginx.conf"),
        "--from-file",
        &format!("main.conf={}", at("nginx.conf")),
        "--from-file",
        &at("dir"),
        "--from-literal",
        "mode=fast",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (0, "configmap/web created\n"),
        "{err}"
    );
    let (code, json, err) = root.podctl(&["get", "configmap", "web", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let object: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(object["kind"], "ConfigMap");
    assert_eq!(object["data"]["nginx.conf"], "worker_processes 1;\n");
    assert_eq!(object["data"]["main.conf"], "worker_processes 1;\n");
    assert_eq!(object["data"]["a.txt"], "A");
    assert_eq!(object["data"]["mode"], "fast");
    // Bytes that are not text are binaryData, base64.
    assert_eq!(object["binaryData"]["b.bin"], "AJ+Slg==");
    let (_, table, _) = root.podctl(&["get", "configmaps"]);
    assert!(
        table.starts_with("NAME") && table.contains("web"),
        "{table}"
    );
    let (code, out, _) = root.podctl(&[
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal",
        "password=hunter2",
    ]);
    assert_eq!((code, out.as_str()), (0, "secret/db created\n"));
    let (_, secret, _) = root.podctl(&["get", "secret", "db", "-o", "json"]);
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(
        secret["data"]["password"], "aHVudGVyMg==",
        "a Secret's values are base64"
    );
    let (code, out, _) = root.podctl(&["delete", "configmap", "web"]);
    assert_eq!((code, out.as_str()), (0, "configmap \"web\" deleted\n"));
    let (code, _, err) = root.podctl(&["get", "configmap", "web"]);
    assert_eq!(code, 3, "{err}");
}
