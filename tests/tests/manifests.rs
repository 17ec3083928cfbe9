//! The fields real manifests use, with the kubelet's semantics: termination
//! messages, what the API server fills in, strict field validation, all
//! namespaces at once, and a Guaranteed pod on a host without
//! CAP_SYS_RESOURCE.

use std::time::Duration;

use tests::{Root, wait_for};

#[test]
fn termination_messages_come_from_the_file_or_the_log() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: ending}
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: busybox
    securityContext: {runAsUser: 1000}
    command: [sh, -c, 'echo -n \"disk full on /data\" > /dev/termination-log; exit 3']
  - name: custom
    image: busybox
    terminationMessagePath: /tmp/why
    command: [sh, -c, 'echo done > /tmp/why']
  - name: fallback
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, 'echo first; echo last words; exit 1']
  - name: quiet
    image: busybox
    command: [sh, -c, 'echo only a log line; exit 1']
";
    root.start(manifest, &[]);
    root.wait_phase("ending", "Failed");
    let terminated = |c: &str| root.container_status("ending", c)["state"]["terminated"].clone();
    let file = terminated("file");
    assert_eq!(file["message"], "disk full on /data", "{file}");
    assert_eq!(file["exitCode"], 3);
    assert_eq!(terminated("custom")["message"], "done\n");
    assert_eq!(terminated("fallback")["message"], "first\nlast words");
    assert!(
        terminated("quiet")["message"].is_null(),
        "File policy: no message without the file"
    );
    let (_, describe, _) = root.podctl(&["describe", "pod", "ending"]);
    assert!(
        describe.contains("Message:      disk full on /data"),
        "{describe}"
    );
}

#[test]
fn get_shows_what_an_api_server_fills_in_and_every_namespace() {
    let root = Root::with_busybox();
    let pod = |name: &str, namespace: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  volumes: [{{name: v}}]\n  containers:\n  - {{name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{{name: v, mountPath: /v, readOnly: true}}]}}\n"
        )
    };
    root.start(&pod("one", "default"), &[]);
    root.start(&pod("two", "team"), &[]);
    let one = root.pod("one");
    let spec = &one["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["enableServiceLinks"], true);
    let host = nix::unistd::gethostname().unwrap();
    assert_eq!(spec["nodeName"], host.to_str().unwrap());
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always", "busybox means :latest");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    let mounts = &one["status"]["containerStatuses"][0]["volumeMounts"];
    assert_eq!(mounts[0]["name"], "v");
    assert_eq!(mounts[0]["mountPath"], "/v");
    assert_eq!(mounts[0]["readOnly"], true);

    let (code, all, err) = root.podctl(&["get", "pods", "-A"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = all
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..2], ["NAMESPACE", "NAME"]);
    assert_eq!(rows[1][..2], ["default", "one"]);
    assert_eq!(rows[2][..2], ["team", "two"]);
    let (_, default_only, _) = root.podctl(&["get", "pods"]);
    assert!(!default_only.contains("two"), "{default_only}");
    let (_, list, _) = root.podctl(&["get", "pods", "--all-namespaces", "-o", "name"]);
    assert_eq!(list, "pod/one\npod/two\n");
}

#[test]
fn strict_refuses_unknown_fields_that_are_otherwise_warnings() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: typo}
spec:
  containers:
  - {name: c, image: busybox, command: [sleep, '3600'], imagePulPolicy: Never}
";
    let (code, _, err) = root.run_manifest(manifest, &["--strict"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.containers[0].imagePulPolicy\""),
        "{err}"
    );
    let (_, names, _) = root.podctl(&["get", "pods", "-o", "name"]);
    assert_eq!(names, "", "nothing was made");
    let (code, _, err) = root.run_manifest(manifest, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: spec.containers[0].imagePulPolicy: unknown field, ignored"),
        "{err}"
    );
}

#[test]
fn a_guaranteed_pod_runs_where_a_negative_oom_score_is_refused() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: guaranteed}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    resources: {limits: {cpu: 100m, memory: 32Mi}, requests: {cpu: 100m, memory: 32Mi}}
";
    root.start(manifest, &[]);
    let pod = root.wait_phase("guaranteed", "Running");
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
    let pid = root.pid("guaranteed", "c");
    let score: i32 = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // -997 where CAP_SYS_RESOURCE allows it; else the score is left as it was.
    let caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if eff & (1 << 24) != 0 {
        assert_eq!(score, -997);
    } else {
        assert!(score >= 0, "{score}");
    }
    wait_for(Duration::from_secs(5), || {
        (root.container_status("guaranteed", "c")["ready"] == true).then_some(())
    })
    .expect("ready");
}

#[test]
fn host_path_types_are_checked_and_a_failed_mount_waits_until_the_path_is_there() {
    let root = Root::with_busybox();
    let host = root.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    let at = |name: &str| host.join(name).display().to_string();
    let manifest = format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: paths}}
spec:
  volumes:
  - {{name: made, hostPath: {{path: {made}}}}}
  - {{name: file, hostPath: {{path: {file}, type: FileOrCreate}}}}
  - {{name: later, hostPath: {{path: {later}, type: Directory}}}}
  containers:
  - name: ok
    image: busybox
    command: [sh, -c, 'ls -ld /made /file; exec sleep 3600']
    volumeMounts: [{{name: made, mountPath: /made}}, {{name: file, mountPath: /file}}]
  - name: blocked
    image: busybox
    command: [sh, -c, 'echo mounted; exec sleep 3600']
    volumeMounts: [{{name: later, mountPath: /later}}]
",
        made = at("made"),
        file = at("file"),
        later = at("later"),
    );
    root.start(&manifest, &["--allow-host-paths", "--backoff", "200ms,1s"]);
    // No type: a missing folder is made; FileOrCreate: an empty file.
    assert!(host.join("made").is_dir());
    assert!(host.join("file").is_file());
    let logs = root.wait_logs("paths", "ok", "/file");
    assert!(logs.contains("drwx"), "{logs}");
    let status = root.container_status("paths", "blocked");
    assert_eq!(
        status["state"]["waiting"]["reason"], "CreateContainerError",
        "{status}"
    );
    let message = status["state"]["waiting"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{} does not exist", at("later"))),
        "{message}"
    );
    assert_eq!(status["restartCount"], 0);
    assert_eq!(root.pod("paths")["status"]["phase"], "Pending");
    let (_, describe, _) = root.podctl(&["describe", "pod", "paths"]);
    assert!(describe.contains("FailedMount"), "{describe}");
    assert!(
        !host.join("later").exists(),
        "Directory is checked, not made"
    );

    std::fs::create_dir(host.join("later")).unwrap();
    root.wait_logs("paths", "blocked", "mounted");
    assert_eq!(
        root.wait_phase("paths", "Running")["status"]["phase"],
        "Running"
    );
    assert_eq!(root.container_status("paths", "blocked")["restartCount"], 0);
}

#[test]
fn dns_settings_and_security_context_as_the_kernel_and_files_show_them() {
    let root = Root::with_busybox();
    let profiles = root.path().join("seccomp");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("deny-mkdir.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: tuned}
spec:
  hostname: api
  subdomain: backend
  setHostnameAsFQDN: true
  dnsPolicy: None
  dnsConfig:
    nameservers: [10.0.0.10]
    searches: [corp.example]
    options: [{name: ndots, value: '2'}]
  securityContext:
    fsGroup: 2000
    supplementalGroups: [3000]
    sysctls:
    - {name: net.ipv4.ip_unprivileged_port_start, value: '80'}
    - {name: kernel.shm_rmid_forced, value: '1'}
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    securityContext: {runAsUser: 1000}
    volumeMounts: [{name: data, mountPath: /data}]
  - name: free
    image: busybox
    command: [sleep, '3600']
    securityContext: {seccompProfile: {type: Unconfined}}
  - name: custom
    image: busybox
    command: [sleep, '3600']
    securityContext: {seccompProfile: {type: Localhost, localhostProfile: deny-mkdir.json}}
";
    root.start(manifest, &[]);
    let exec = |container: &str, script: &str| {
        let (code, out, err) =
            root.podctl(&["exec", "tuned", "-c", container, "--", "sh", "-c", script]);
        (code, out, err)
    };
    let (_, resolv, _) = exec("c", "cat /etc/resolv.conf");
    assert_eq!(
        resolv,
        "nameserver 10.0.0.10\nsearch corp.example\noptions ndots:2\n"
    );
    let (_, hostname, _) = exec("c", "hostname; grep api /etc/hosts");
    let fqdn = "api.backend.default.svc.cluster.local";
    assert!(hostname.starts_with(&format!("{fqdn}\n")), "{hostname}");
    assert!(hostname.contains(&format!("\t{fqdn}\tapi\n")), "{hostname}");

    let pid = root.pid("tuned", "c");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let groups = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert!(
        groups.contains("2000") && groups.contains("3000"),
        "fsGroup and supplementalGroups: {groups}"
    );
    let (_, sysctls, _) = exec(
        "c",
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shm_rmid_forced",
    );
    assert_eq!(sysctls, "80\n1\n");
    let host_port_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(
        host_port_start.trim(),
        "80",
        "the host's own value is untouched"
    );
    let (_, data, _) = exec(
        "c",
        "stat -c '%g %a' /data; touch /data/f; stat -c %g /data/f",
    );
    assert_eq!(
        data, "2000 2777\n2000\n",
        "fsGroup owns the volume and what is made in it"
    );

    let seccomp = |container: &str| {
        let pid = root.pid("tuned", container);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(seccomp("c"), "2");
    assert_eq!(seccomp("free"), "0");
    assert_eq!(seccomp("custom"), "2");
    let (code, _, err) = exec("custom", "mkdir /tmp/x");
    assert_ne!(code, 0);
    assert!(err.contains("not permitted"), "{err}");
    let (code, _, err) = exec("free", "mkdir /tmp/x");
    assert_eq!(code, 0, "{err}");

    // Unsafe sysctls, and network ones with the host's network, are refused with their field.
    let unsafe_sysctl = manifest.replace("kernel.shm_rmid_forced", "kernel.msgmax");
    let (code, _, err) =
        root.run_manifest(&unsafe_sysctl.replace("name: tuned", "name: other"), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.securityContext.sysctls[1].name: \"kernel.msgmax\" is not a safe namespaced sysctl"),
        "{err}"
    );
}

#[test]
fn post_start_runs_before_the_container_counts_and_a_failure_restarts_it() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  initContainers:
  - name: web
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www']
    startupProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
  containers:
  - name: exec-hook
    image: busybox
    command: [sleep, '3600']
    lifecycle: {postStart: {exec: {command: [sh, -c, 'sleep 1; echo hooked > /tmp/hook']}}}
  - name: http-hook
    image: busybox
    command: [sleep, '3600']
    lifecycle: {postStart: {httpGet: {port: 8080, path: /index.html}}}
  - name: failing
    image: busybox
    command: [sleep, '3600']
    lifecycle: {postStart: {httpGet: {port: 9999}}}
";
    root.start(manifest, &["--backoff", "200ms,2s"]);
    let running = |c: &str| root.container_status("hooks", c)["state"]["running"].is_object();
    wait_for(Duration::from_secs(20), || {
        running("exec-hook").then_some(())
    })
    .expect("Running once the hook returned");
    let (code, out, err) =
        root.podctl(&["exec", "hooks", "-c", "exec-hook", "--", "cat", "/tmp/hook"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "hooked\n"),
        "the hook ran first: {err}"
    );
    wait_for(Duration::from_secs(20), || {
        running("http-hook").then_some(())
    })
    .expect("an HTTP hook that answers lets it run");
    assert_eq!(
        root.container_status("hooks", "http-hook")["restartCount"],
        0
    );
    let failing = wait_for(Duration::from_secs(30), || {
        let s = root.container_status("hooks", "failing");
        (s["restartCount"].as_u64() >= Some(1)).then_some(s)
    })
    .expect("a failed hook kills the container and it is restarted");
    assert_ne!(failing["ready"], true);
    let (_, describe, _) = root.podctl(&["describe", "pod", "hooks"]);
    assert!(describe.contains("FailedPostStartHook"), "{describe}");
}

#[test]
fn attach_sends_input_to_a_containers_stdin_and_its_terminal() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  restartPolicy: Never
  containers:
  - name: reader
    image: busybox
    stdin: true
    stdinOnce: true
    command: [sh, -c, 'while read line; do echo \"got $line\"; done; echo stdin closed']
  - name: shell
    image: busybox
    stdin: true
    tty: true
    command: [sh, -c, 'tty; [ -t 0 ] && echo stdin is a terminal; exec sh']
";
    root.start(manifest, &[]);
    let attach = |container: &str, input: &str| {
        let mut child = root
            .command()
            .args(["attach", "talk", "-c", container, "-i"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Let it follow the log before the input comes.
        std::thread::sleep(Duration::from_millis(500));
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let done = wait_for(Duration::from_secs(30), || child.try_wait().unwrap());
        if done.is_none() {
            let _ = child.kill();
        }
        let output = child.wait_with_output().unwrap();
        assert!(done.is_some(), "attach ends with the container");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let out = attach("reader", "one\ntwo\n");
    assert_eq!(
        out, "got one\ngot two\nstdin closed\n",
        "stdinOnce: the attach's end is EOF"
    );

    let logs = root.wait_logs("talk", "shell", "stdin is a terminal");
    assert!(logs.starts_with("/dev/pts/"), "{logs}");
    let out = attach("shell", "echo from-$((20+22))\nexit\n");
    assert!(
        out.contains("from-42"),
        "the shell ran what was typed: {out}"
    );
    assert_eq!(
        root.container_status("talk", "shell")["state"]["terminated"]["exitCode"],
        0
    );
}

#[test]
fn attach_outlives_a_container_that_closes_its_input() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: deaf}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    stdin: true
    command: [sh, -c, 'read first; exec 0<&-; echo input closed; sleep 2; echo still here']
";
    root.start(manifest, &[]);
    // Endless input (`yes`): the container reads a line (so the attach is
    // there), closes its end, and podctl's writes fail with EPIPE; SIGPIPE
    // must not kill podctl before the container's last line and its end.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("yes | {} attach deaf -i", root.shell_prefix()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("input closed\nstill here\n"), "{stdout}");
}

/// A process killed when dropped: a helper a test started.
struct Helper(std::process::Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn grpc_probes_call_the_health_checking_protocol() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: grpc}
spec:
  containers:
  - name: serving
    image: busybox
    command: [sleep, '3600']
    readinessProbe: {grpc: {port: 50051}, periodSeconds: 1}
  - name: down
    image: busybox
    command: [sleep, '3600']
    readinessProbe: {grpc: {port: 50051, service: down}, periodSeconds: 1}
";
    root.start(manifest, &[]);
    let pause = root.runtime_status("grpc")["sandbox"]["pause_pid"]
        .as_i64()
        .unwrap() as i32;
    // The server runs in the pod's network namespace (it needs no image).
    let _server = Helper(
        tests::nsenter(pause)
            .arg("-n")
            .arg(tests::bin("grpc-health-server"))
            .arg("50051")
            .spawn()
            .unwrap(),
    );
    wait_for(Duration::from_secs(20), || {
        (root.container_status("grpc", "serving")["ready"] == true).then_some(())
    })
    .expect("SERVING makes the container ready");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        root.container_status("grpc", "down")["ready"],
        false,
        "NOT_SERVING keeps it unready"
    );
    let (_, describe, _) = root.podctl(&["describe", "pod", "grpc"]);
    assert!(
        describe.contains("Readiness probe of container down failed"),
        "{describe}"
    );
}

/// What an example needs beyond `podctl run -d -f`.
fn example_flags(name: &str) -> &'static [&'static str] {
    match name {
        "restart-backoff.yml" => &["--backoff", "200ms,1s"],
        _ => &[],
    }
}

#[test]
fn every_example_runs() {
    let mut examples: Vec<String> = std::fs::read_dir(tests::workspace().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml") || n.ends_with(".toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 10, "{examples:?}");
    for name in examples {
        let root = Root::with_busybox();
        let file = tests::workspace().join("examples").join(&name);
        let mut args = vec!["run", "-d", "-f", file.to_str().unwrap()];
        args.extend_from_slice(example_flags(&name));
        let (code, out, err) = root.podctl(&args);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let pods: Vec<String> = out.lines().map(str::to_string).collect();
        assert!(!pods.is_empty(), "{name} ran no pod: {err}");
        for pod in pods {
            // Every container got past its creation: none waits on a config or create error.
            let settled = wait_for(Duration::from_secs(30), || {
                let object = root.pod(&pod);
                let statuses = object["status"]["containerStatuses"].as_array()?.clone();
                let created = statuses.iter().all(|c| {
                    let reason = c["state"]["waiting"]["reason"].as_str().unwrap_or("");
                    !matches!(reason, "ContainerCreating" | "PodInitializing")
                        && !reason.starts_with("CreateContainer")
                });
                (created && object["status"]["phase"] != "Pending").then_some(object)
            });
            assert!(
                settled.is_some(),
                "{name}: pod {pod} did not get going: {}",
                root.pod(&pod)["status"]
            );
        }
    }
}

#[test]
fn the_hooks_example_runs_its_hook_first_and_reports_its_message() {
    let root = Root::with_busybox();
    root.start(&tests::example("hooks-probes-and-messages.yml"), &[]);
    wait_for(Duration::from_secs(30), || {
        (root.container_status("hooked", "app")["ready"] == true).then_some(())
    })
    .expect("the hook fetched the page the readiness probe looks for");
    let reporter = wait_for(Duration::from_secs(30), || {
        let s = root.container_status("hooked", "reporter");
        s["state"]["terminated"].is_object().then_some(s)
    })
    .unwrap();
    assert_eq!(
        reporter["state"]["terminated"]["message"],
        "checked 3 disks\n"
    );
}
