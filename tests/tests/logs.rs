//! Container logs: rotated as the kubelet rotates them, read in constant memory.

use std::time::Duration;

use tests::{Root, run_measured, wait_for};

fn pod(name: &str, restart: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {restart}\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, '{script}']}}\n"
    )
}

fn log_files(root: &Root, pod: &str) -> Vec<(String, u64)> {
    let uid = root.pod(pod)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = root.path().join("pods").join(uid).join("logs/c");
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_chatty_container_is_rotated_and_bounded() {
    let root = Root::with_busybox();
    let script =
        "yes 0123456789abcdef0123456789abcdef | head -c 20000000; echo; echo finished; sleep 3600";
    root.start(
        &pod("chatty", "Always", script),
        &["--log-max-size", "1Mi", "--log-max-files", "3"],
    );
    root.wait_logs("chatty", "c", "finished");
    let files = log_files(&root, "chatty");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        files.len(),
        3,
        "the current file and two rotated: {names:?}"
    );
    assert_eq!(names[0], "0.log");
    assert!(
        names[1..].iter().all(|n| n.starts_with("0.log.")),
        "{names:?}"
    );
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    assert!(
        total <= 3 * ((1 << 20) + 200),
        "{total} bytes kept: {files:?}"
    );
    // `logs` reads the current file: its last line is the container's last.
    let (code, out, _) = root.podctl(&["logs", "chatty", "--tail", "1"]);
    assert_eq!(code, 0);
    assert_eq!(out, "finished\n");
}

#[test]
fn logs_read_a_big_file_in_constant_memory() {
    let root = Root::with_busybox();
    // 60 MB of output, about 120 MB with the log's prefixes, in one file.
    let script = "yes 0123456789abcdef0123456789abcdef0123456789abcdef | head -c 60000000; echo; echo finished; sleep 3600";
    root.start(&pod("big", "Always", script), &["--log-max-size", "1Gi"]);
    wait_for(Duration::from_secs(60), || {
        let (_, out, _) = root.podctl(&["logs", "big", "--tail", "1"]);
        (out == "finished\n").then_some(())
    })
    .expect("the container wrote its 60 MB");
    let files = log_files(&root, "big");
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].1 > 100_000_000, "{files:?}");
    let podctl = |args: &[&str]| {
        let mut command = root.command();
        command.args(args);
        command
    };
    let (out, tail_kib) = run_measured(&podctl(&["logs", "big", "--tail", "1"]), usize::MAX);
    assert_eq!(out, b"finished\n");
    let (out, head_kib) = run_measured(&podctl(&["logs", "big"]), 100);
    assert_eq!(out.len(), 100);
    assert!(out.starts_with(b"0123456789abcdef"));
    for (what, kib) in [("--tail 1", tail_kib), ("| head -c 100", head_kib)] {
        assert!(
            kib < 40 * 1024,
            "logs {what} peaked at {kib} KiB for a 60 MB log"
        );
    }
}

#[test]
fn logs_follow_a_container_across_rotations() {
    let root = Root::with_busybox();
    let script = "i=1; while [ $i -le 300 ]; do echo line-$i-0123456789abcdef0123456789; i=$((i+1)); sleep 0.01; done";
    root.start(
        &pod("rotating", "Never", script),
        &["--log-max-size", "4Ki", "--log-max-files", "2"],
    );
    let (out, _) = run_measured(root.command().args(["logs", "-f", "rotating"]), usize::MAX);
    let text = String::from_utf8(out).unwrap();
    let numbers: Vec<u32> = text
        .lines()
        .filter_map(|l| l.strip_prefix("line-")?.split('-').next()?.parse().ok())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {numbers:?}"
    );
    assert_eq!(numbers.last(), Some(&300), "followed to the end: {text}");
    assert!(
        numbers.len() >= 250,
        "lines lost across rotations: {}",
        numbers.len()
    );
    assert!(log_files(&root, "rotating").len() <= 2);
}

#[test]
fn logs_follow_a_container_across_its_restarts() {
    let root = Root::with_busybox();
    // Each run counts itself in the pod's emptyDir; the third succeeds.
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: restarting}\nspec:\n  restartPolicy: OnFailure\n  volumes: [{name: state, emptyDir: {}}]\n  containers:\n  - name: c\n    image: busybox\n    volumeMounts: [{name: state, mountPath: /state}]\n    command: [sh, -c, 'n=$(($(cat /state/n 2>/dev/null || echo 0) + 1)); echo $n > /state/n; echo run-$n; sleep 1; [ $n -ge 3 ]']\n";
    root.start(manifest, &["--backoff", "200ms,1s"]);
    let (out, _) = run_measured(
        root.command().args(["logs", "-f", "restarting"]),
        usize::MAX,
    );
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text, "run-1\nrun-2\nrun-3\n",
        "one `logs -f` reads every run, each once, in order, and ends with the container"
    );
    let pod = root.pod("restarting");
    assert_eq!(pod["status"]["phase"], "Succeeded", "{pod}");
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 2);
}
