//! The command line as people use it: describe, ns, exit codes, and two
//! commands racing on one root.

use std::process::Command;
use std::time::Duration;

use tests::{Root, bin, example, output, wait_for, workspace};

#[test]
fn describe_shows_states_restarts_conditions_and_events() {
    let root = Root::with_busybox();
    root.start(
        &example("restart-backoff.yml"),
        &["--backoff", "200ms,400ms"],
    );
    wait_for(Duration::from_secs(10), || {
        (root.container_status("crashy", "crash")["restartCount"].as_u64() >= Some(2)).then_some(())
    })
    .expect("restarts");
    let (code, out, err) = root.podctl(&["describe", "pod", "crashy"]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "Name:             crashy",
        "Image:         busybox",
        "Last State:    Terminated",
        "Exit Code:    3",
        "Restart Count: ",
        "ContainersReady",
        "Events:",
        "BackOff",
        "Started container crash",
    ] {
        assert!(out.contains(needle), "describe lacks {needle:?}:\n{out}");
    }
    let (code, _, err) = root.podctl(&["describe", "pod", "nope"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("pod \"nope\" not found (pods: crashy)"),
        "{err}"
    );
}

#[test]
fn ns_tells_which_namespaces_are_shared_with_pause_and_the_host() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-pod.yml"), &[]);
    let (code, out, err) = root.podctl(&["ns", "two-containers-pod"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let shared = |container: &str, kind: &str| {
        rows.iter()
            .find(|r| r[3] == container && r[1] == kind)
            .map(|r| r[4])
            .unwrap()
    };
    for container in ["hello", "hello2"] {
        for kind in ["net", "ipc", "uts"] {
            assert_eq!(shared(container, kind), "pause", "{out}");
        }
        assert_eq!(shared(container, "mnt"), "own");
        assert_eq!(shared(container, "pid"), "own");
        // A cgroup namespace of its own, as Docker and containerd give.
        assert_eq!(shared(container, "cgroup"), "own");
        assert_eq!(shared(container, "user"), "host");
    }
}

#[test]
fn exit_codes_tell_usage_not_found_and_failure_apart() {
    let root = Root::with_busybox();
    assert_eq!(root.podctl(&["get", "pods", "nope"]).0, 3);
    assert_eq!(root.podctl(&["logs", "nope"]).0, 3);
    assert_eq!(root.podctl(&["delete", "pod"]).0, 2, "no name and no --all");
    assert_eq!(root.podctl(&["frobnicate"]).0, 2);
    let (code, _, err) = root.podctl(&["run", "-f", "/nonexistent.yaml"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent.yaml"), "{err}");
    let (code, out, _) = output(Command::new(bin("podctl")).arg("--version"));
    assert_eq!(code, 0);
    assert!(out.starts_with("podctl "));
    for (shell, needle) in [
        ("bash", "_podctl()"),
        ("zsh", "#compdef podctl"),
        ("fish", "complete -c podctl"),
    ] {
        let (code, out, _) = output(Command::new(bin("podctl")).args(["completion", shell]));
        assert_eq!(code, 0);
        assert!(
            out.contains(needle),
            "{shell}: {}",
            &out[..out.len().min(200)]
        );
    }
    for command in [
        &["run"][..],
        &["get"],
        &["describe"],
        &["delete"],
        &["logs"],
        &["exec"],
        &["ns"],
        &["recover"],
        &["inspect"],
        &["completion"],
        &["image", "import"],
        &["image", "ls"],
        &["image", "rm"],
        &["image", "inspect"],
        &["image", "unpack"],
    ] {
        let (_, help, _) = output(Command::new(bin("podctl")).args(command).arg("--help"));
        assert!(
            help.contains("Example: podctl "),
            "{command:?} --help has no example"
        );
    }
    let (_, help, _) = output(Command::new(bin("podctl")).args(["run", "--help"]));
    assert!(
        help.contains("Example: podctl run -d -f examples/two-containers-pod.yml"),
        "{help}"
    );
}

#[test]
fn inspect_shows_pids_namespaces_cgroups_roots_and_logs_as_the_kernel_has_them() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-pod.yml"), &[]);
    root.wait_logs("two-containers-pod", "hello", "first container");
    let (code, out, err) = root.podctl(&["inspect", "two-containers-pod"]);
    assert_eq!(code, 0, "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    let uid = view["uid"].as_str().unwrap();
    assert_eq!(view["phase"], "Running");
    assert_eq!(view["supervisor_pid"], root.supervisor_pid(uid));
    let pause = root.pid("two-containers-pod", "pause");
    assert_eq!(view["sandbox"]["pause_pid"], pause);
    for kind in ["net", "ipc", "uts", "pid", "mnt"] {
        assert_eq!(view["sandbox"]["namespaces"][kind], tests::ns(pause, kind));
    }
    for c in view["containers"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let pid = root.pid("two-containers-pod", name);
        assert_eq!(c["pid"], pid);
        for kind in ["net", "ipc", "uts", "mnt"] {
            assert_eq!(c["namespaces"][kind], tests::ns(pid, kind), "{name} {kind}");
        }
        // The root the container sees, readable from the host.
        let rootfs = std::path::PathBuf::from(c["rootfs"].as_str().unwrap());
        assert!(rootfs.join("bin/busybox").is_file(), "{}", rootfs.display());
        assert_eq!(
            std::fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
            "two-containers-pod\n"
        );
        // v1: the pids hierarchy; v2: the one unified tree.
        let hierarchy = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
            .into_iter()
            .find(|h| std::path::Path::new(h).join("cgroup.procs").exists())
            .unwrap();
        let procs = std::fs::read_to_string(format!(
            "{hierarchy}{}/cgroup.procs",
            c["cgroup"].as_str().unwrap()
        ))
        .unwrap();
        assert!(
            procs.lines().any(|p| p == pid.to_string()),
            "{name}: {procs}"
        );
        let log = std::fs::read_to_string(c["log"].as_str().unwrap()).unwrap();
        assert!(log.contains("container"), "{name}: {log}");
    }
    let (code, _, err) =
        root.podctl(&["delete", "pod", "two-containers-pod", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_missing_supervisor_binary_is_named_and_no_pod_is_made() {
    let root = Root::with_busybox();
    let missing = root.path().join("nowhere/podctl-supervisor");
    let (code, _, err) = output(
        root.command()
            .args(["run", "-d", "-f"])
            .arg(tests::workspace().join("examples/two-containers-pod.yml"))
            .env("PODCTL_SUPERVISOR", &missing),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "the pod supervisor {} is missing",
            missing.display()
        )),
        "{err}"
    );
    let (code, out, _) = root.podctl(&["get", "pods", "-o", "name"]);
    assert_eq!((code, out.as_str()), (0, ""), "no pod was made");
    let pods: Vec<_> = std::fs::read_dir(root.path().join("pods"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        pods.iter().all(|n| n == "by-name"),
        "pod folders left: {pods:?}"
    );
    let names = std::fs::read_dir(root.path().join("pods/by-name"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(names, 0, "the pod's name is still claimed");
}

#[test]
fn two_runs_of_one_name_at_once_give_one_pod_and_one_clear_error() {
    let root = Root::with_busybox();
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), "apiVersion: v1\nkind: Pod\nmetadata: {name: race}\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n").unwrap();
    let spawn = || {
        root.command()
            .args(["run", "-d", "-f"])
            .arg(file.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let results: Vec<_> = [a, b]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let codes: Vec<i32> = results.iter().map(|r| r.status.code().unwrap()).collect();
    assert!(codes.contains(&0) && codes.contains(&1), "{codes:?}");
    let failed = results.iter().find(|r| !r.status.success()).unwrap();
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("pod \"race\" already exists"),
        "{:?}",
        failed
    );
    let (_, table, _) = root.podctl(&["get", "pods"]);
    assert_eq!(table.lines().count(), 2, "one pod: {table}");
    let pods = std::fs::read_dir(root.path().join("pods")).unwrap().count();
    assert_eq!(pods, 2, "one pod folder and by-name");
}

#[test]
fn exec_runs_inside_the_container_and_returns_its_exit_code() {
    let root = Root::with_busybox();
    root.start(&example("web-and-sidecar.yml"), &[]);
    let page = wait_for(Duration::from_secs(10), || {
        let (code, out, _) = root.podctl(&[
            "exec",
            "web",
            "-c",
            "content",
            "--",
            "wget",
            "-qO-",
            "http://localhost:8080/",
        ]);
        (code == 0 && !out.is_empty()).then_some(out)
    });
    assert!(
        page.is_some(),
        "the sidecar reaches the web server over localhost"
    );
    let (code, out, err) = root.podctl(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '; exit 7",
    ]);
    assert_eq!(code, 7, "{err}");
    assert_eq!(
        out, "web\nhttpd -f -p 8080 -h /srv ",
        "runs in the web container's namespaces"
    );
    assert!(
        err.contains("Defaulted container \"web\" out of: web, content"),
        "{err}"
    );
    let mut child = root
        .command()
        .args(["exec", "-s", "web", "-c", "content", "--", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"through stdin\n").unwrap();
    drop(child.stdin.take());
    let result = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&result.stdout), "through stdin\n");
    // A command that stops reading stdin early still gets its exit code
    // reported (podctl's copy into it meets a closed pipe, not SIGPIPE).
    let mut child = root
        .command()
        .args(["exec", "-s", "web", "-c", "content", "--"])
        .args(["sh", "-c", "head -c 1 >/dev/null; exit 4"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'y'; 65536];
        for _ in 0..64 {
            if std::io::Write::write_all(&mut input, &chunk).is_err() {
                break;
            }
        }
    });
    let status = child.wait().unwrap();
    feeder.join().unwrap();
    assert_eq!(status.code(), Some(4), "{status:?}");
    assert_eq!(
        root.podctl(&["exec", "web", "-c", "nope", "--", "true"]).0,
        3
    );
}

#[test]
fn exec_t_runs_on_a_terminal_driven_through_a_pseudo_terminal() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-pod.yml"), &[]);
    let podctl = root.shell_prefix();
    // `script` gives podctl a pseudo-terminal of its own, as a user's shell would.
    let one_shot =
        format!("{podctl} exec -t two-containers-pod -c hello -- sh -c 'tty; echo done; exit 5'");
    let (code, out, err) = output(Command::new("script").args(["-qec", &one_shot, "/dev/null"]));
    assert_eq!(code, 5, "the command's exit code: {out}{err}");
    assert!(
        out.contains("/dev/pts/") && out.contains("done"),
        "on a terminal: {out:?}"
    );
    let interactive = format!("{podctl} exec -t -s two-containers-pod -c hello2 -- sh");
    let mut child = Command::new("script")
        .args(["-qec", &interactive, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    std::io::Write::write_all(&mut stdin, b"echo typed-$((40+2))\n").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::io::Write::write_all(&mut stdin, b"exit 3\n").unwrap();
    let result = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(3), "{out}");
    assert!(
        out.contains("typed-42"),
        "the shell read what was typed: {out:?}"
    );
}

#[test]
fn a_slow_delete_shows_progress_on_a_terminal_and_nothing_when_piped() {
    let root = Root::with_busybox();
    let stubborn = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, 'trap \"\" TERM; while true; do sleep 0.1; done']}}\n"
        )
    };
    root.start(&stubborn("on-tty"), &[]);
    root.start(&stubborn("piped"), &[]);
    let podctl = root.shell_prefix();
    let (code, out, _) = output(Command::new("script").args([
        "-qec",
        &format!("{podctl} delete pod on-tty"),
        "/dev/null",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("waiting for on-tty to stop"),
        "progress on a terminal: {out:?}"
    );
    let (code, out, err) = root.podctl(&["delete", "pod", "piped"]);
    assert_eq!(code, 0);
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("pod \"piped\" deleted\n", ""),
        "quiet when piped"
    );
}

#[test]
fn get_prints_kubernetes_shaped_objects_and_tables() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-pod.yml"), &[]);
    wait_for(Duration::from_secs(10), || {
        (root.pod("two-containers-pod")["status"]["conditions"][3]["status"] == "True")
            .then_some(())
    })
    .expect("ready");
    let pod = root.pod("two-containers-pod");
    assert_eq!(pod["apiVersion"], "v1");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "two-containers-pod");
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(pod["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(
        pod["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(pod["spec"]["restartPolicy"], "OnFailure");
    assert_eq!(pod["spec"]["containers"][1]["name"], "hello2");
    let status = &pod["status"];
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["qosClass"], "BestEffort");
    assert!(status["startTime"].is_string());
    let types: Vec<&str> = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
    );
    assert!(
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "True" && c["lastTransitionTime"].is_string())
    );
    let hello = &status["containerStatuses"][0];
    assert_eq!(hello["name"], "hello");
    assert_eq!(hello["image"], "busybox:latest");
    assert!(hello["imageID"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        hello["containerID"]
            .as_str()
            .unwrap()
            .starts_with("podctl://")
    );
    assert_eq!(hello["restartCount"], 0);
    assert_eq!(hello["ready"], true);
    assert_eq!(hello["started"], true);
    assert!(hello["state"]["running"]["startedAt"].is_string());

    let (_, list, _) = root.podctl(&["get", "pods", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["metadata"]["name"], "two-containers-pod");
    let (_, yaml, _) = root.podctl(&["get", "pod", "two-containers-pod", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Pod\n") && yaml.contains("phase: Running\n"),
        "{yaml}"
    );
    let (_, name, _) = root.podctl(&["get", "pods", "-o", "name"]);
    assert_eq!(name, "pod/two-containers-pod\n");
    let (_, wide, _) = root.podctl(&["get", "pods", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "UID"]
    );
    assert!(wide.contains(pod["metadata"]["uid"].as_str().unwrap()));
    // An unknown format is a usage error, named by clap with the formats there are.
    let (code, _, err) = root.podctl(&["get", "pods", "-o", "xml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wide") && err.contains("json"), "{err}");
}

#[test]
fn a_relative_root_names_the_same_root_for_every_part() {
    let root = Root::with_busybox();
    let parent = root.path().parent().unwrap();
    let name = root.path().file_name().unwrap().to_str().unwrap();
    // The same command line with the root given relative to the folder it runs in.
    let prefix = root.shell_prefix().replace(
        &format!("--root {}", root.path().display()),
        &format!("--root {name}"),
    );
    let manifest = workspace().join("examples/two-containers-pod.yml");
    let (code, out, err) = output(
        Command::new("sh")
            .current_dir(parent)
            .args(["-c", &format!("{prefix} run -d -f {}", manifest.display())]),
    );
    assert_eq!(code, 0, "a relative --root: {out}{err}");
    // Seen by the absolute name: the pod is there and running.
    let pod = root.pod("two-containers-pod");
    assert_eq!(pod["status"]["phase"], "Running", "{pod}");
    let deleted = root.podctl(&["delete", "pod", "two-containers-pod", "--grace-period", "0"]);
    assert_eq!(deleted.0, 0, "{deleted:?}");
}

#[test]
fn a_run_folder_holding_an_older_podctls_state_is_not_hidden_by_a_tmpfs() {
    let root = Root::with_busybox();
    // A container of an older podctl, whose state is in the folder itself.
    let old = root.path().join("run/0a0a0a0a-old-container");
    std::fs::create_dir_all(&old).unwrap();
    root.start(&example("two-containers-pod.yml"), &[]);
    let pod = root.pod("two-containers-pod");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    // The folder is not covered: the old state and the new one are side by side.
    assert!(old.is_dir(), "the older state is hidden");
    assert!(
        root.path()
            .join(format!("run/{uid}-hello/state.json"))
            .is_file()
    );
    let deleted = root.podctl(&["delete", "pod", "two-containers-pod", "--grace-period", "0"]);
    assert_eq!(deleted.0, 0, "{deleted:?}");
    assert!(old.is_dir());
    std::fs::remove_dir(&old).unwrap();
}

/// podctl is linked at a fixed address, not as a position-independent
/// executable: the dynamic loader then has none of its 36,000 relative
/// relocations to apply (and pages to copy) before every command, a
/// millisecond of each `run` and `delete`. It stays dynamically linked
/// (glibc's name service modules answer its registry host lookups).
#[test]
fn podctl_is_linked_at_a_fixed_address() {
    use std::io::Read;
    let mut header = [0u8; 18];
    std::fs::File::open(bin("podctl"))
        .unwrap()
        .read_exact(&mut header)
        .unwrap();
    assert_eq!(&header[..4], b"\x7fELF");
    let kind = u16::from_le_bytes([header[16], header[17]]);
    assert_eq!(kind, 2, "podctl's ELF type is {kind}, not ET_EXEC (2)");
    let (code, out, err) = output(Command::new("ldd").arg(bin("podctl")));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("libc.so"),
        "podctl is linked dynamically: {out}"
    );
}
