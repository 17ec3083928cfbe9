//! The supervisor's control socket, driven directly with JSON lines as any
//! client (a future CRI server) would: containers added, started, stopped
//! and removed in a running sandbox; exec with its exit code and output;
//! bad requests and non-root clients refused with nothing changed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tests::{Root, ns, proc_stat, wait_for};

const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: ctl}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'echo main-up; exec sleep 1000']
";

/// The pod's uid and control socket.
fn socket(root: &Root, pod: &str) -> (String, PathBuf) {
    let uid = root.pod(pod)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = root.path().join("pods").join(&uid).join("control.sock");
    (uid, path)
}

/// Send one line, read the one-line answer.
fn ask_line(socket: &PathBuf, line: &str) -> Value {
    let mut stream = UnixStream::connect(socket).expect("connect to the control socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("answer {answer:?}: {e}"))
}

fn ask(socket: &PathBuf, request: Value) -> Value {
    let mut request = request;
    request["version"] = json!(1);
    ask_line(socket, &request.to_string())
}

/// The answer, which must not be an error.
fn ok(answer: Value) -> Value {
    assert_ne!(answer["response"], "error", "{answer}");
    assert_eq!(answer["version"], 1, "{answer}");
    answer
}

fn statuses(root: &Root, pod: &str) -> Vec<Value> {
    root.pod(pod)["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn status_of(root: &Root, pod: &str, name: &str) -> Option<Value> {
    statuses(root, pod).into_iter().find(|c| c["name"] == name)
}

fn gone(pid: i32) -> bool {
    wait_for(Duration::from_secs(10), || {
        proc_stat(pid).is_none().then_some(())
    })
    .is_some()
}

#[test]
fn a_container_is_added_started_stopped_and_removed_in_a_running_sandbox() {
    let root = Root::with_busybox();
    root.start(POD, &["--backoff", "300ms,600ms"]);
    let (uid, socket) = socket(&root, "ctl");
    let pause = root.pid("ctl", "pause");
    let main = root.pid("ctl", "main");

    let extra = json!({
        "name": "extra",
        "image": "busybox",
        "command": ["sh", "-c", "trap 'exit 0' TERM; echo extra-up; while true; do sleep 0.2; done"],
    });
    ok(ask(&socket, json!({"request": "add", "container": extra})));
    let added = status_of(&root, "ctl", "extra").expect("the added container is listed");
    assert_eq!(added["state"]["waiting"]["reason"], "Created", "{added}");
    let spec = root.pod("ctl")["spec"]["containers"].clone();
    assert_eq!(spec[1]["name"], "extra", "the record holds it: {spec}");

    let started = ok(ask(
        &socket,
        json!({"request": "start", "container": "extra"}),
    ));
    assert_eq!(started["response"], "started");
    let pid = started["pid"].as_i64().unwrap() as i32;
    assert_eq!(root.pid("ctl", "extra"), pid);
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(ns(pid, kind), ns(pause, kind), "{kind} shared with pause");
    }
    root.wait_logs("ctl", "extra", "extra-up");

    // Stopped: answered once it has exited, and not restarted (policy Always).
    ok(ask(
        &socket,
        json!({"request": "stop", "container": "extra", "timeout_seconds": 5}),
    ));
    assert!(gone(pid), "the stopped container's process is gone");
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = status_of(&root, "ctl", "extra").unwrap();
    assert_eq!(
        stopped["state"]["terminated"]["exitCode"], 0,
        "its SIGTERM trap ended it, and it stays down: {stopped}"
    );
    assert_eq!(stopped["restartCount"], 0);

    // Started again: a restart.
    let again = ok(ask(
        &socket,
        json!({"request": "start", "container": "extra"}),
    ));
    let pid = again["pid"].as_i64().unwrap() as i32;
    assert_eq!(status_of(&root, "ctl", "extra").unwrap()["restartCount"], 1);

    // Removed while running: killed, then gone from status, record, disk.
    ok(ask(
        &socket,
        json!({"request": "remove", "container": "extra"}),
    ));
    assert!(gone(pid));
    assert!(status_of(&root, "ctl", "extra").is_none());
    let spec = root.pod("ctl")["spec"]["containers"].clone();
    assert_eq!(spec.as_array().unwrap().len(), 1, "{spec}");
    let pod_dir = root.path().join("pods").join(&uid);
    assert!(!pod_dir.join("containers/extra").exists());
    assert!(!pod_dir.join("logs/extra").exists());
    assert!(
        !root
            .path()
            .join("run")
            .join(format!("{uid}-extra"))
            .exists()
    );

    // The rest of the pod did not notice.
    assert_eq!(root.pid("ctl", "main"), main);
    assert_eq!(root.pid("ctl", "pause"), pause);
    assert_eq!(root.pod("ctl")["status"]["phase"], "Running");
}

#[test]
fn in_client_mode_nothing_restarts_by_itself_and_the_sandbox_stays() {
    let root = Root::with_busybox();
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: cri}
spec:
  containers:
  - name: once
    image: busybox
    command: [sh, -c, 'exit 4']
";
    root.start(
        pod,
        &["--restart-mode", "client", "--backoff", "200ms,400ms"],
    );
    let (_, socket) = socket(&root, "cri");
    let once = wait_for(Duration::from_secs(10), || {
        let s = status_of(&root, "cri", "once")?;
        s["state"]["terminated"].is_object().then_some(s)
    })
    .expect("it ran and ended");
    assert_eq!(once["state"]["terminated"]["exitCode"], 4);
    std::thread::sleep(Duration::from_secs(1));
    let once = status_of(&root, "cri", "once").unwrap();
    assert_eq!(once["restartCount"], 0, "not restarted: {once}");
    let pause = root.pid("cri", "pause");
    assert!(proc_stat(pause).is_some(), "the sandbox stays");
    // The client starts it again.
    ok(ask(
        &socket,
        json!({"request": "start", "container": "once"}),
    ));
    let again = wait_for(Duration::from_secs(10), || {
        let s = status_of(&root, "cri", "once")?;
        (s["restartCount"] == 1 && s["state"]["terminated"].is_object()).then_some(s)
    });
    assert!(again.is_some(), "{:?}", status_of(&root, "cri", "once"));
}

#[test]
fn exec_answers_with_the_exit_code_and_output_as_the_container_runs() {
    let root = Root::with_busybox();
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: ex}
spec:
  containers:
  - name: app
    image: busybox
    command: [sleep, '1000']
    securityContext: {runAsUser: 1234}
    env: [{name: GREETING, value: hi}]
";
    root.start(pod, &[]);
    let (_, socket) = socket(&root, "ex");
    let answer = ok(ask(
        &socket,
        json!({"request": "exec", "container": "app",
               "command": ["sh", "-c", "echo out $GREETING $(id -u); echo err >&2; exit 3"]}),
    ));
    assert_eq!(answer["response"], "exec");
    assert_eq!(answer["exit_code"], 3);
    assert_eq!(answer["stdout"], "out hi 1234\n");
    assert_eq!(answer["stderr"], "err\n");
    assert_eq!(answer["truncated"], false);

    // A timeout kills it.
    let answer = ok(ask(
        &socket,
        json!({"request": "exec", "container": "app", "command": ["sleep", "100"], "timeout_seconds": 1}),
    ));
    assert_eq!(answer["exit_code"], 137, "{answer}");

    // Not in a container that does not run.
    let answer = ask(
        &socket,
        json!({"request": "exec", "container": "nope", "command": ["true"]}),
    );
    assert_eq!(answer["response"], "error");
    assert!(
        answer["message"].as_str().unwrap().contains("nope"),
        "{answer}"
    );
}

#[test]
fn malformed_unknown_and_invalid_requests_are_refused_and_change_nothing() {
    let root = Root::with_busybox();
    root.start(POD, &[]);
    let (uid, socket) = socket(&root, "ctl");
    let record = root.path().join("pods").join(&uid).join("pod.json");
    let before = std::fs::read(&record).unwrap();
    let main = root.pid("ctl", "main");
    let refused = |answer: Value, needle: &str| {
        assert_eq!(answer["response"], "error", "{answer}");
        let message = answer["message"].as_str().unwrap().to_string();
        assert!(message.contains(needle), "{needle:?} in {message}");
    };
    refused(ask_line(&socket, "this is not json"), "malformed request");
    refused(ask(&socket, json!({"request": "fly"})), "malformed request");
    refused(
        ask_line(&socket, r#"{"version":99,"request":"status"}"#),
        "protocol version 99",
    );
    refused(
        ask(
            &socket,
            json!({"request": "add", "container": {"name": "Bad_Name", "image": "busybox"}}),
        ),
        "spec.containers[1].name",
    );
    refused(
        ask(
            &socket,
            json!({"request": "add", "container": {"name": "main", "image": "busybox"}}),
        ),
        "main",
    );
    refused(
        ask(
            &socket,
            json!({"request": "add", "container": {"name": "root", "image": "busybox",
                   "securityContext": {"privileged": true}}}),
        ),
        "--allow-privileged",
    );
    refused(
        ask(
            &socket,
            json!({"request": "add", "container": {"name": "ghost", "image": "nothere:1"}}),
        ),
        "nothere",
    );
    refused(
        ask(&socket, json!({"request": "start", "container": "main"})),
        "running already",
    );
    refused(
        ask(
            &socket,
            json!({"request": "stop", "container": "ghost", "timeout_seconds": 1}),
        ),
        "ghost",
    );
    assert_eq!(
        std::fs::read(&record).unwrap(),
        before,
        "the record is untouched"
    );
    assert_eq!(statuses(&root, "ctl").len(), 1);
    assert_eq!(root.pid("ctl", "main"), main);
    let status = ok(ask(&socket, json!({"request": "status"})));
    assert_eq!(status["status"]["phase"], "Running");
}

#[test]
fn only_root_may_use_the_control_socket() {
    let root = Root::with_busybox();
    root.start(POD, &[]);
    let (_, socket) = socket(&root, "ctl");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), 0);
    let main = root.pid("ctl", "main");
    // Every folder on the way is open to all: the socket's mode is what refuses.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A process of user nobody (65534) tries to stop the pod.
    let path = std::ffi::CString::new(socket.to_str().unwrap()).unwrap();
    let request = b"{\"version\":1,\"request\":\"stop_pod\",\"grace_seconds\":0}\n";
    // SAFETY: the child makes only async-signal-safe system calls with data
    // prepared before the fork, then exits.
    let child = match unsafe { nix::unistd::fork() }.unwrap() {
        // SAFETY: as above, only async-signal-safe system calls in the child.
        nix::unistd::ForkResult::Child => unsafe {
            use nix::libc;
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                libc::_exit(100);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let mut address: libc::sockaddr_un = std::mem::zeroed();
            address.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (i, b) in path.as_bytes().iter().enumerate() {
                address.sun_path[i] = *b as libc::c_char;
            }
            let size = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::connect(fd, (&address as *const libc::sockaddr_un).cast(), size) != 0 {
                libc::_exit(*libc::__errno_location());
            }
            libc::write(fd, request.as_ptr().cast(), request.len());
            libc::_exit(0)
        },
        nix::unistd::ForkResult::Parent { child } => child,
    };
    let status = nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(child, nix::libc::EACCES),
        "connect refused with EACCES"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(root.pid("ctl", "main"), main, "the pod was not stopped");
    assert_eq!(root.pod("ctl")["status"]["phase"], "Running");
}

#[test]
fn a_container_named_pause_is_just_a_container() {
    let root = Root::with_busybox();
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: named}
spec:
  containers:
  - name: pause
    image: busybox
    command: [sh, -c, 'echo i-am-pause; exec sleep 1000']
";
    root.start(pod, &[]);
    let sandbox = root.pid("named", "pause");
    let status = status_of(&root, "named", "pause").expect("listed");
    assert!(status["state"]["running"].is_object(), "{status}");
    root.wait_logs("named", "pause", "i-am-pause");
    let runtime = root.runtime_status("named");
    let app = runtime["containers"][0]["pid"].as_i64().unwrap() as i32;
    assert_ne!(
        app, sandbox,
        "the sandbox and the container are two processes"
    );
    // Each in a cgroup of its own.
    let cgroup = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroup(app).lines().any(|l| l.ends_with("/pause")),
        "{}",
        cgroup(app)
    );
    assert!(
        cgroup(sandbox).lines().any(|l| l.ends_with("/_sandbox")),
        "{}",
        cgroup(sandbox)
    );
    assert_eq!(ns(app, "net"), ns(sandbox, "net"));
    assert!(proc_stat(sandbox).is_some() && proc_stat(app).is_some());
    assert_eq!(root.pod("named")["status"]["phase"], "Running");
    // Both end with the pod.
    let (code, _, err) = root.podctl(&["delete", "pod", "named"]);
    assert_eq!(code, 0, "{err}");
    assert!(gone(sandbox) && gone(app));
}
