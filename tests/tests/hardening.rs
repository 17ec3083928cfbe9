//! What a hostile manifest, image or container process tries, and what a
//! stuck supervisor or a full disk does to deletion: refused or contained.

use std::path::Path;

use tests::{Root, ns, processes_with, tree};

fn pod(name: &str, spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

const SLEEPER: &str = "  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n";

#[test]
fn host_namespaces_privileged_and_host_paths_are_refused_before_anything_is_made() {
    let root = Root::with_busybox();
    let cases = [
        (
            "hostNetwork: true\n",
            "spec.hostNetwork",
            "--allow-host-namespaces",
        ),
        ("hostPID: true\n", "spec.hostPID", "--allow-host-namespaces"),
        ("hostIPC: true\n", "spec.hostIPC", "--allow-host-namespaces"),
    ];
    for (field, path, flag) in cases {
        let manifest = pod("gated", &format!("  {field}{SLEEPER}"));
        let (code, _, err) = root.run_manifest(&manifest, &[]);
        assert_eq!(code, 1, "{path}: {err}");
        assert!(err.contains(path) && err.contains(flag), "{path}: {err}");
    }
    let privileged = pod(
        "gated",
        "  containers:\n  - {name: c, image: busybox, command: [sleep, '3600'], securityContext: {privileged: true}}\n",
    );
    let host_path = pod(
        "gated",
        "  volumes: [{name: h, hostPath: {path: /etc}}]\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{name: h, mountPath: /h}]}\n",
    );
    for (manifest, path, flag) in [
        (
            privileged,
            "spec.containers[0].securityContext.privileged",
            "--allow-privileged",
        ),
        (host_path, "spec.volumes[0].hostPath", "--allow-host-paths"),
    ] {
        let (code, _, err) = root.run_manifest(&manifest, &[]);
        assert_eq!(code, 1, "{path}: {err}");
        assert!(err.contains(path) && err.contains(flag), "{path}: {err}");
    }
    // Nothing was made: no pod folder, no name, no supervisor.
    let pods = tree(&root.path().join("pods"));
    assert!(pods.is_empty() || pods == ["by-name"], "{pods:?}");
    assert!(processes_with(root.path().to_str().unwrap()).is_empty());
    let (_, out, _) = root.podctl(&["get", "pods"]);
    assert!(out.is_empty(), "{out}");
}

#[test]
fn an_allowed_host_pid_pod_shares_the_hosts_pid_namespace() {
    let root = Root::with_busybox();
    let manifest = pod("hostpid", &format!("  hostPID: true\n{SLEEPER}"));
    root.start(&manifest, &["--allow-host-namespaces"]);
    let pid = root.pid("hostpid", "c");
    assert_eq!(ns(pid, "pid"), ns(1, "pid"));
    assert!(Path::new(&format!("/proc/{pid}")).exists());
}
