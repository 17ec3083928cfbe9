//! Pod lifecycle through the real podctl: restart policies and back-off,
//! init and sidecar containers, graceful termination, a lost supervisor, logs.

use std::time::{Duration, Instant};

use tests::{Root, example, ns, output, proc_stat, wait_for};

/// Start times of each run of a container, from the first line of each log file.
fn run_starts(root: &Root, pod: &str, container: &str) -> Vec<chrono_like::Time> {
    let uid = root.pod(pod)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = root
        .path()
        .join("pods")
        .join(uid)
        .join("logs")
        .join(container);
    let mut starts = Vec::new();
    for run in 0.. {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("{run}.log"))) else {
            break;
        };
        if let Some(first) = text.lines().next() {
            starts.push(chrono_like::parse(first.split(' ').next().unwrap()));
        }
    }
    starts
}

/// Just enough RFC 3339 parsing for log timestamps (seconds since midnight, as f64).
mod chrono_like {
    pub type Time = f64;
    pub fn parse(text: &str) -> Time {
        let clock = text.split('T').nth(1).unwrap().trim_end_matches('Z');
        let parts: Vec<f64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    }
}

#[test]
fn on_failure_restarts_with_a_doubling_capped_back_off_and_keeps_the_sandbox() {
    let root = Root::with_busybox();
    root.start(
        &example("restart-backoff.yml"),
        &["--backoff", "400ms,1600ms"],
    );
    let pause = root.pid("crashy", "pause");
    let net = ns(pause, "net");
    let status = wait_for(Duration::from_secs(30), || {
        let s = root.container_status("crashy", "crash");
        (s["restartCount"].as_u64() >= Some(4)).then_some(s)
    })
    .expect("four restarts");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(status["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(
        root.pid("crashy", "pause"),
        pause,
        "restarts keep the pause container"
    );
    assert_eq!(ns(pause, "net"), net);
    let starts = run_starts(&root, "crashy", "crash");
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // 0.4, 0.8, 1.6, then capped at 1.6 (plus the run itself, a few ms).
    for (gap, expected) in gaps.iter().zip([0.4, 0.8, 1.6, 1.6]) {
        assert!(
            *gap >= expected && *gap < expected + 0.35,
            "gaps {gaps:?} against 0.4, 0.8, 1.6, 1.6"
        );
    }
    // Between tries the container waits in CrashLoopBackOff.
    let waiting = wait_for(Duration::from_secs(5), || {
        let s = root.container_status("crashy", "crash");
        (s["state"]["waiting"]["reason"] == "CrashLoopBackOff").then_some(())
    });
    assert!(waiting.is_some());
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(
        table.contains("CrashLoopBackOff") || table.contains("Error") || table.contains("Running"),
        "{table}"
    );
    let (_, logs, _) = root.podctl(&["logs", "crashy", "--previous"]);
    assert!(logs.starts_with("try at "), "{logs}");
}

#[test]
fn never_fails_the_pod_with_the_exit_code() {
    let root = Root::with_busybox();
    root.start(
        &example("restart-backoff.yml").replace("restartPolicy: OnFailure", "restartPolicy: Never"),
        &[],
    );
    let pod = root.wait_phase("crashy", "Failed");
    let crash = &pod["status"]["containerStatuses"][0];
    assert_eq!(crash["state"]["terminated"]["exitCode"], 3);
    assert_eq!(crash["state"]["terminated"]["reason"], "Error");
    assert_eq!(crash["restartCount"], 0);
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()[..3]
            == ["crashy", "0/1", "Error"],
        "{table}"
    );
}

#[test]
fn always_restarts_even_after_success_and_on_failure_completes() {
    let root = Root::with_busybox();
    let pod = |name: &str, policy: &str, code: u8| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, 'exit {code}']}}\n"
        )
    };
    root.start(&pod("always", "Always", 0), &["--backoff", "100ms,200ms"]);
    root.start(
        &pod("onfailure", "OnFailure", 0),
        &["--backoff", "100ms,200ms"],
    );
    let restarted = wait_for(Duration::from_secs(10), || {
        (root.container_status("always", "c")["restartCount"].as_u64() >= Some(2)).then_some(())
    });
    assert!(
        restarted.is_some(),
        "Always restarts a container that exited 0"
    );
    assert_eq!(root.pod("always")["status"]["phase"], "Running");
    let done = root.wait_phase("onfailure", "Succeeded");
    assert_eq!(done["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(
        done["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
}

#[test]
fn init_containers_run_once_in_order_before_the_app() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: inits}
spec:
  volumes: [{name: d}]
  initContainers:
  - {name: first, image: busybox, command: [sh, -c, 'echo first >> /d/order'], volumeMounts: [{name: d, mountPath: /d}]}
  - {name: second, image: busybox, command: [sh, -c, 'echo second >> /d/order'], volumeMounts: [{name: d, mountPath: /d}]}
  containers:
  - {name: app, image: busybox, command: [sh, -c, 'echo app >> /d/order; cat /d/order; sleep 3600'], volumeMounts: [{name: d, mountPath: /d}]}
"#;
    root.start(manifest, &[]);
    assert_eq!(
        root.wait_logs("inits", "app", "app"),
        "first\nsecond\napp\n"
    );
    for name in ["first", "second"] {
        let s = root.container_status("inits", name);
        assert_eq!(s["state"]["terminated"]["exitCode"], 0, "{s}");
        assert_eq!(s["restartCount"], 0);
    }
    let pod = root.pod("inits");
    let initialized = pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Initialized")
        .unwrap()
        .clone();
    assert_eq!(initialized["status"], "True");
}

#[test]
fn a_failing_init_container_under_never_fails_the_pod_and_no_app_starts() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: badinit}
spec:
  restartPolicy: Never
  initContainers:
  - {name: setup, image: busybox, command: [sh, -c, 'exit 2']}
  containers:
  - {name: app, image: busybox, command: [sh, -c, 'echo should-not-run']}
"#;
    root.start(manifest, &[]);
    let pod = root.wait_phase("badinit", "Failed");
    assert_eq!(
        pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"],
        2
    );
    let app = &pod["status"]["containerStatuses"][0];
    assert!(
        app["state"]["waiting"].is_object(),
        "the app never started: {app}"
    );
    assert_eq!(root.logs("badinit", "app"), "");
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(table.contains("Init:Error"), "{table}");
}

#[test]
fn a_sidecar_starts_before_the_next_init_and_does_not_keep_a_job_running() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: withsidecar}
spec:
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: d}]
      initContainers:
      - {name: side, image: busybox, restartPolicy: Always, command: [sh, -c, 'echo side-up > /d/side; trap "exit 0" TERM; while true; do sleep 0.1; done'], volumeMounts: [{name: d, mountPath: /d}]}
      - {name: check, image: busybox, command: [sh, -c, 'for i in $(seq 50); do [ -f /d/side ] && exit 0; sleep 0.1; done; exit 1'], volumeMounts: [{name: d, mountPath: /d}]}
      containers:
      - {name: job, image: busybox, command: [sh, -c, 'cat /d/side; sleep 0.5'], volumeMounts: [{name: d, mountPath: /d}]}
"#;
    root.start(manifest, &[]);
    root.wait_phase("withsidecar", "Succeeded");
    // The sidecar is stopped once the job is done.
    let pod = wait_for(Duration::from_secs(10), || {
        let pod = root.pod("withsidecar");
        pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
            .is_object()
            .then_some(pod)
    })
    .expect("the sidecar is stopped");
    assert_eq!(root.logs("withsidecar", "job"), "side-up\n");
    let side = pod["status"]["initContainerStatuses"][0].clone();
    assert!(
        side["state"]["terminated"].is_object(),
        "the sidecar was stopped after the job: {side}"
    );
    assert_eq!(
        side["ready"], false,
        "a stopped sidecar is not listed ready: {side}"
    );
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(
        table.contains("0/2"),
        "the job and its stopped sidecar, neither ready: {table}"
    );
    let job_end = pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let side_end = side["state"]["terminated"]["finishedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        side_end >= job_end,
        "sidecar {side_end} outlives the job {job_end}"
    );
    assert_eq!(
        pod["status"]["initContainerStatuses"][1]["state"]["terminated"]["exitCode"],
        0
    );
}

#[test]
fn grace_period_bounds_deletion_of_a_container_that_ignores_sigterm() {
    let root = Root::with_busybox();
    let pod = |name: &str, script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, '{script}']}}\n"
        )
    };
    root.start(
        &pod("stubborn", "trap \"\" TERM; while true; do sleep 0.1; done"),
        &[],
    );
    root.start(
        &pod(
            "polite",
            "trap \"exit 0\" TERM; while true; do sleep 0.1; done",
        ),
        &[],
    );
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (code, _, err) = root.podctl(&["delete", "pod", "polite"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a container that handles SIGTERM stops at once: {:?}",
        started.elapsed()
    );
    let pid = root.pid("stubborn", "c");
    let started = Instant::now();
    let (code, _, err) = root.podctl(&["delete", "pod", "stubborn"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(3500),
        "killed after the 2 s grace period, took {took:?}"
    );
    assert!(proc_stat(pid).is_none());
}

#[test]
fn a_killed_supervisor_shows_unknown_and_delete_still_cleans_up() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-pod.yml"), &[]);
    let uid = root.pod("two-containers-pod")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let pids: Vec<i32> = ["pause", "hello", "hello2"]
        .iter()
        .map(|c| root.pid("two-containers-pod", c))
        .collect();
    let supervisor = root.kill_supervisor(&uid);
    wait_for(Duration::from_secs(5), || {
        proc_stat(supervisor)
            .is_none_or(|s| s.state == 'Z')
            .then_some(())
    });
    let pod = root.pod("two-containers-pod");
    assert_eq!(pod["status"]["phase"], "Unknown", "{pod}");
    assert_eq!(pod["status"]["reason"], "SupervisorGone");
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(table.contains("Unknown"), "{table}");
    let (code, _, err) = root.podctl(&["delete", "pod", "two-containers-pod"]);
    assert_eq!(code, 0, "{err}");
    for pid in pids {
        let gone = wait_for(Duration::from_secs(5), || {
            proc_stat(pid).is_none_or(|s| s.state == 'Z').then_some(())
        });
        assert!(gone.is_some(), "process {pid} survived");
    }
    assert_eq!(tests::mounts_anywhere(&uid), Vec::<String>::new());
    assert!(!root.path().join("pods").join(&uid).exists());
}

#[test]
fn logs_keep_streams_split_long_lines_and_previous_runs() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  restartPolicy: OnFailure
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: state, mountPath: /state}]
    command: [sh, -c, 'echo out-1; sleep 0.2; echo err-2 >&2; sleep 0.2; echo out-3; head -c 40000 /dev/zero | tr "\0" x; echo; if [ -f /state/x ]; then sleep 3600; fi; touch /state/x; [ -f /proc/1/status ] && exit 1']
"#;
    root.start(manifest, &["--backoff", "300ms,1s"]);
    let status = wait_for(Duration::from_secs(20), || {
        let s = root.container_status("chatty", "c");
        (s["restartCount"].as_u64() >= Some(1) && s["state"]["running"].is_object()).then_some(s)
    });
    assert!(status.is_some(), "restarted once");
    let (_, previous, _) = root.podctl(&["logs", "chatty", "--previous"]);
    let lines: Vec<&str> = previous.lines().collect();
    assert_eq!(
        &lines[..3],
        ["out-1", "err-2", "out-3"],
        "interleaved in order"
    );
    assert_eq!(
        lines[3],
        "x".repeat(40000),
        "a 40000-byte line comes back whole"
    );
    let uid = root.pod("chatty")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let raw =
        std::fs::read_to_string(root.path().join("pods").join(uid).join("logs/c/0.log")).unwrap();
    let tags: Vec<(&str, &str)> = raw
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            (f[1], f[2])
        })
        .collect();
    assert_eq!(
        &tags[..3],
        [("stdout", "F"), ("stderr", "F"), ("stdout", "F")]
    );
    assert_eq!(
        &tags[3..6],
        [("stdout", "P"), ("stdout", "P"), ("stdout", "F")],
        "16 KiB pieces: {tags:?}"
    );
    let (_, tail, _) = root.podctl(&[
        "logs",
        "chatty",
        "--previous",
        "--tail",
        "1",
        "--timestamps",
    ]);
    assert!(
        tail.starts_with("20") && tail.trim_end().ends_with('x') && tail.lines().count() == 1,
        "{tail}"
    );
    let (code, _, err) = root.podctl(&["logs", "chatty", "-c", "nope"]);
    assert_eq!(code, 3);
    assert!(err.contains("containers: c"), "{err}");
}

#[test]
fn hello_job_shows_its_line_and_foreground_run_streams_with_prefixes() {
    let root = Root::with_busybox();
    root.start(&example("hello-job.yml"), &[]);
    assert_eq!(
        root.wait_logs("hello", "hello", "Hello"),
        "Hello, Kubernetes!\n"
    );
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), "apiVersion: v1\nkind: Pod\nmetadata: {name: fg}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: a, image: busybox, command: [sh, -c, 'echo from-a']}\n  - {name: b, image: busybox, command: [sh, -c, 'sleep 0.3; echo from-b; exit 4']}\n").unwrap();
    let (code, out, err) = output(root.command().args(["run", "--rm", "-f"]).arg(file.path()));
    assert_eq!(code, 1, "a failed pod exits 1: {out}{err}");
    assert!(
        out.contains("[a] from-a\n") && out.contains("[b] from-b\n"),
        "{out}"
    );
    let (code, _, _) = root.podctl(&["get", "pod", "fg"]);
    assert_eq!(code, 3, "--rm deleted the pod");
}

#[test]
fn a_foreground_run_interrupted_deletes_its_pod() {
    let root = Root::with_busybox();
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), "apiVersion: v1\nkind: Pod\nmetadata: {name: fg}\nspec:\n  containers:\n  - {name: a, image: busybox, command: [sh, -c, 'echo started; sleep 3600']}\n").unwrap();
    let child = root
        .command()
        .args(["run", "-f"])
        .arg(file.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = tests::Guard(child);
    let pid = wait_for(Duration::from_secs(10), || {
        let (code, _, _) = root.podctl(&["get", "pod", "fg"]);
        (code == 0 && root.runtime_status("fg")["containers"][0]["pid"].is_i64())
            .then(|| root.pid("fg", "a"))
    })
    .expect("the pod runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(guard.pid()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = guard.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let (code, _, _) = root.podctl(&["get", "pod", "fg"]);
    assert_eq!(code, 3, "the pod is gone");
    assert!(proc_stat(pid).is_none_or(|s| s.state == 'Z'));
}

#[test]
fn a_killed_pause_gets_a_new_sandbox_and_the_app_restarts() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-pod.yml"), &[]);
    let pause = root.pid("two-containers-pod", "pause");
    let old_net = ns(pause, "net");
    // Hold the old namespace open so its inode number cannot be reused by the new one.
    let _old = std::fs::File::open(format!("/proc/{pause}/ns/net")).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pause),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let rebuilt = wait_for(Duration::from_secs(15), || {
        let status = root.runtime_status("two-containers-pod");
        let new_pause = status["sandbox"]["pause_pid"].as_i64()?;
        let running = status["containers"]
            .as_array()?
            .iter()
            .all(|c| c["pid"].is_i64());
        (new_pause as i32 != pause && running && status["sandbox"]["restarts"] == 1)
            .then_some(new_pause as i32)
    })
    .expect("a new pause and running containers");
    // The pod's network namespace is pinned: the new pause joins it and the
    // pod keeps its IP.
    assert_eq!(
        ns(rebuilt, "net"),
        old_net,
        "the pod's pinned network namespace"
    );
    for name in ["hello", "hello2"] {
        let pid = root.pid("two-containers-pod", name);
        assert_eq!(
            ns(pid, "net"),
            ns(rebuilt, "net"),
            "{name} joined the new sandbox"
        );
        assert_eq!(
            root.container_status("two-containers-pod", name)["restartCount"],
            1
        );
    }
    let (_, describe, _) = root.podctl(&["describe", "pod", "two-containers-pod"]);
    assert!(describe.contains("SandboxChanged"), "{describe}");
}

#[test]
fn pre_stop_runs_before_sigterm_and_host_paths_need_a_flag() {
    let root = Root::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hooked}}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{{name: h, hostPath: {{path: {}}}}}]
  containers:
  - name: c
    image: busybox
    volumeMounts: [{{name: h, mountPath: /host}}]
    lifecycle: {{preStop: {{exec: {{command: [sh, -c, 'sleep 0.3; echo prestop >> /host/order']}}}}}}
    command: [sh, -c, 'trap "echo term >> /host/order; exit 0" TERM; echo started >> /host/order; while true; do sleep 0.1; done']
"#,
        host.path().display()
    );
    let (code, _, err) = root.run_manifest(&manifest, &["--allow-host-paths"]);
    assert_eq!(code, 0, "{err}");
    let order = host.path().join("order");
    wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&order)
            .ok()
            .filter(|t| t.contains("started"))
            .map(|_| ())
    })
    .expect("the container writes to the host path");
    let (code, _, err) = root.podctl(&["delete", "pod", "hooked"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&order).unwrap(),
        "started\nprestop\nterm\n",
        "preStop runs first, then SIGTERM"
    );
}

#[test]
fn probes_gate_readiness_and_restart_unhealthy_containers() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: web
    image: busybox
    command: [sh, -c, 'mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www']
    readinessProbe: {httpGet: {port: 8080, path: /index.html}, periodSeconds: 1}
  - name: app
    image: busybox
    command: [sh, -c, 'touch /tmp/alive; sleep 3600']
    readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe: {exec: {command: [cat, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
"#;
    root.start(manifest, &["--backoff", "200ms,1s"]);
    let web_ready = wait_for(Duration::from_secs(10), || {
        (root.container_status("probed", "web")["ready"] == true).then_some(())
    });
    assert!(web_ready.is_some(), "the httpGet readiness probe passes");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        root.container_status("probed", "app")["ready"],
        false,
        "no /tmp/ready yet"
    );
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(table.contains(" 1/2 "), "{table}");
    let (code, _, err) = root.podctl(&["exec", "probed", "-c", "app", "--", "touch", "/tmp/ready"]);
    assert_eq!(code, 0, "{err}");
    let ready = wait_for(Duration::from_secs(10), || {
        (root.container_status("probed", "app")["ready"] == true).then_some(())
    });
    assert!(ready.is_some(), "ready once the probe passes");
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert!(table.contains(" 2/2 "), "{table}");
    // Break liveness: the container is killed and restarted.
    root.podctl(&["exec", "probed", "-c", "app", "--", "rm", "/tmp/alive"]);
    let restarted = wait_for(Duration::from_secs(15), || {
        (root.container_status("probed", "app")["restartCount"].as_u64() >= Some(1)).then_some(())
    });
    assert!(
        restarted.is_some(),
        "a failing liveness probe restarts the container"
    );
    let (_, describe, _) = root.podctl(&["describe", "pod", "probed"]);
    assert!(
        describe.contains("Liveness probe of container app failed"),
        "{describe}"
    );
}

#[test]
fn recover_gives_a_lost_pod_a_new_supervisor() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\nspec:\n  volumes: [{name: d}]\n  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'echo run >> /d/runs; echo started; sleep 3600'], volumeMounts: [{name: d, mountPath: /d}]}\n";
    root.start(manifest, &[]);
    root.wait_logs("lost", "c", "started");
    let uid = root.pod("lost")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let old = root.pid("lost", "c");
    root.kill_supervisor(&uid);
    wait_for(Duration::from_secs(5), || {
        (root.pod("lost")["status"]["phase"] == "Unknown").then_some(())
    })
    .expect("Unknown");
    let (code, out, err) = root.podctl(&["recover", "lost"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "pod \"lost\" recovered\n");
    let pod = root.wait_phase("lost", "Running");
    assert_eq!(pod["metadata"]["uid"], uid.as_str(), "the same pod");
    let c = root.container_status("lost", "c");
    assert_eq!(c["restartCount"], 1, "{c}");
    assert!(
        proc_stat(old).is_none_or(|s| s.state == 'Z'),
        "the orphaned container was stopped"
    );
    let runs = std::fs::read_to_string(root.path().join("pods").join(&uid).join("volumes/d/runs"))
        .unwrap();
    assert_eq!(runs, "run\nrun\n", "the emptyDir survived");
    let (_, previous, _) = root.podctl(&["logs", "lost", "--previous"]);
    assert_eq!(previous, "started\n");
    let (code, out, _) = root.podctl(&["recover", "lost"]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "pod \"lost\" has a running supervisor: nothing to recover\n"
        )
    );
}

#[test]
fn deleting_many_pods_waits_for_them_together() {
    let root = Root::with_busybox();
    for name in ["slow-a", "slow-b", "slow-c"] {
        root.start(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, 'trap \"\" TERM; while true; do sleep 0.1; done']}}\n"), &[]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (code, out, err) = root.podctl(&["delete", "pod", "--all"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        took < Duration::from_millis(4000),
        "three 2 s grace periods in parallel, not in a row: {took:?}"
    );
}
