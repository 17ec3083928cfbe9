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
    assert_eq!(ns(pid, "pid"), ns(std::process::id() as i32, "pid"));
    assert!(Path::new(&format!("/proc/{pid}")).exists());
}

/// The file of a container's cgroup on the host, for v1 (`controller`) or v2.
fn host_cgroup_file(
    root: &Root,
    pod: &str,
    container: &str,
    v1: (&str, &str),
    v2: &str,
) -> std::path::PathBuf {
    let uid = root.pod(pod)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let qos = root.pod(pod)["status"]["qosClass"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let parent = if qos == "guaranteed" {
        format!("podctl/pod{uid}")
    } else {
        format!("podctl/{qos}/pod{uid}")
    };
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Path::new("/sys/fs/cgroup")
            .join(parent)
            .join(container)
            .join(v2)
    } else {
        Path::new("/sys/fs/cgroup")
            .join(v1.0)
            .join(parent)
            .join(container)
            .join(v1.1)
    }
}

#[test]
fn a_container_cannot_raise_its_own_limits_or_make_cgroups() {
    let root = Root::with_busybox();
    let attack = "for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory.max; do echo 8589934592 > /sys/fs/cgroup/$f; done; \
                  for f in pids/pids.max pids.max; do echo max > /sys/fs/cgroup/$f; done; \
                  for f in cpu/cpu.cfs_quota_us cpu,cpuacct/cpu.cfs_quota_us cpu.max; do echo -1 > /sys/fs/cgroup/$f; done; \
                  mkdir /sys/fs/cgroup/systemd/podctl-escape /sys/fs/cgroup/podctl-escape /sys/fs/cgroup/memory/podctl-escape; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; echo attacked; sleep 3600";
    let manifest = pod(
        "limited",
        &format!(
            "  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, '{attack}']\n    resources: {{limits: {{memory: 64Mi, cpu: 200m}}}}\n"
        ),
    );
    root.start(&manifest, &[]);
    let logs = root.wait_logs("limited", "c", "attacked");
    assert!(
        logs.contains("67108864") || logs.contains("max"),
        "the container reads its limit: {logs}"
    );
    let memory = host_cgroup_file(
        &root,
        "limited",
        "c",
        ("memory", "memory.limit_in_bytes"),
        "memory.max",
    );
    assert_eq!(std::fs::read_to_string(&memory).unwrap().trim(), "67108864");
    let pids = host_cgroup_file(&root, "limited", "c", ("pids", "pids.max"), "pids.max");
    assert_eq!(std::fs::read_to_string(&pids).unwrap().trim(), "4096");
    let cpu = host_cgroup_file(
        &root,
        "limited",
        "c",
        ("cpu", "cpu.cfs_quota_us"),
        "cpu.max",
    );
    let quota = std::fs::read_to_string(&cpu).unwrap();
    assert!(
        quota.trim() == "20000" || quota.starts_with("20000 "),
        "{quota}"
    );
    for escape in [
        "systemd/podctl-escape",
        "podctl-escape",
        "memory/podctl-escape",
    ] {
        assert!(
            !Path::new("/sys/fs/cgroup").join(escape).exists(),
            "{escape} was made"
        );
    }
    // In a cgroup namespace of its own: its cgroup is its root.
    let (code, out, err) = root.podctl(&["exec", "limited", "--", "cat", "/proc/self/cgroup"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .filter(|l| !l.contains("name="))
            .all(|l| l.ends_with(":/")),
        "{out}"
    );
}

/// `Field:` of `/proc/self/status` as a command in the container prints it.
fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_string()
}

#[test]
fn exec_runs_as_the_containers_process_does() {
    let root = Root::with_busybox();
    let manifest = pod(
        "execed",
        "  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n    securityContext: {runAsUser: 1234, runAsGroup: 1235}\n",
    );
    root.start(&manifest, &[]);
    let pid = root.pid("execed", "c");
    let own = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let (code, status, err) = root.podctl(&["exec", "execed", "--", "cat", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        status_field(&status, "Seccomp"),
        "2",
        "exec is filtered as the container is"
    );
    assert_eq!(status_field(&own, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert!(
        status_field(&status, "Uid").starts_with("1234\t"),
        "{status}"
    );
    assert!(
        status_field(&status, "Gid").starts_with("1235\t"),
        "{status}"
    );
    assert_eq!(
        status_field(&status, "CapEff"),
        status_field(&own, "CapEff")
    );
    assert_eq!(
        status_field(&status, "CapBnd"),
        status_field(&own, "CapBnd")
    );
    // What the filter refuses, refused through exec too.
    let (code, _, err) = root.podctl(&["exec", "execed", "--", "unshare", "-U", "-r", "true"]);
    assert_ne!(code, 0, "unshare -U -r must fail through exec: {err}");
    // Same cgroup as the container (its cgroup namespace's root).
    let (_, cgroups, _) = root.podctl(&["exec", "execed", "--", "cat", "/proc/self/cgroup"]);
    assert!(
        cgroups
            .lines()
            .any(|l| l.contains(":memory:") || l.starts_with("0::")),
        "{cgroups}"
    );
    assert!(
        cgroups
            .lines()
            .filter(|l| !l.contains("name="))
            .all(|l| l.ends_with(":/")),
        "{cgroups}"
    );
}

#[test]
fn containers_pause_and_exec_start_with_default_signals() {
    let root = Root::with_busybox();
    let manifest = pod(
        "signals",
        "  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'yes | head -c 1000000 > /dev/null; echo pipe-ended; exec sleep 3600']}\n",
    );
    root.start(&manifest, &[]);
    root.wait_logs("signals", "c", "pipe-ended");
    for who in ["pause", "c"] {
        let pid = root.pid("signals", who);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert_eq!(
            status_field(&status, "SigIgn"),
            "0000000000000000",
            "{who}: {status}"
        );
        assert_eq!(
            status_field(&status, "SigBlk"),
            "0000000000000000",
            "{who}: {status}"
        );
    }
    let (code, status, err) = root.podctl(&["exec", "signals", "--", "cat", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_field(&status, "SigIgn"), "0000000000000000");
    assert_eq!(status_field(&status, "SigBlk"), "0000000000000000");
}
