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

/// A mountinfo line's mount point, its per-mount options, the filesystem's
/// device and type.
fn mount_fields(line: &str) -> Option<(&str, &str, &str, &str)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let dash = fields.iter().position(|f| *f == "-")?;
    Some((fields[4], fields[5], fields[2], fields.get(dash + 1)?))
}

#[test]
fn masked_folders_and_the_cgroup_folder_are_read_only_and_no_filesystem_of_their_own() {
    let root = Root::with_busybox();
    let try_write = "mkdir /sys/fs/cgroup/escape; mkdir /sys/fs/cgroup/memory/escape; \
                     for d in /proc/acpi /sys/firmware; do touch $d/planted; ls -A $d | wc -l; done; \
                     echo tried; sleep 3600";
    let manifest = pod(
        "masks",
        &format!(
            "  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, '{try_write}']\n"
        ),
    );
    root.start(&manifest, &[]);
    let logs = root.wait_logs("masks", "c", "tried");
    assert!(
        logs.matches("Read-only file system").count() >= 3,
        "/sys/fs/cgroup, its hierarchies and the masked folders refuse writes: {logs}"
    );
    let counts: Vec<&str> = logs
        .lines()
        .filter(|l| l.trim().parse::<u32>().is_ok())
        .collect();
    assert_eq!(counts, ["0", "0"], "the masked folders are empty: {logs}");
    let (code, mountinfo, err) =
        root.podctl(&["exec", "masks", "--", "cat", "/proc/self/mountinfo"]);
    assert_eq!(code, 0, "{err}");
    let mounts: Vec<_> = mountinfo.lines().filter_map(mount_fields).collect();
    // Each mount point once: no second copy of the cgroup folder's mounts.
    let mut points: Vec<&str> = mounts.iter().map(|m| m.0).collect();
    points.sort();
    let before = points.len();
    points.dedup();
    assert_eq!(
        before,
        points.len(),
        "a mount point mounted twice: {mountinfo}"
    );
    let cgroup = mounts
        .iter()
        .find(|m| m.0 == "/sys/fs/cgroup")
        .expect("/sys/fs/cgroup");
    assert!(cgroup.1.split(',').any(|o| o == "ro"), "{mountinfo}");
    for folder in ["/proc/acpi", "/sys/firmware"] {
        if let Some(mask) = mounts.iter().find(|m| m.0 == folder) {
            assert!(
                mask.1.split(',').any(|o| o == "ro"),
                "{folder}: {mountinfo}"
            );
        }
    }
    // The masks and the cgroup folder are binds of what the host has mounted
    // already, not filesystems of their own (a tmpfs each would be one more
    // filesystem, and shrinker slot in every memory cgroup, per container).
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let host_devices: Vec<&str> = host.lines().filter_map(mount_fields).map(|m| m.2).collect();
    for point in ["/sys/fs/cgroup", "/proc/acpi", "/sys/firmware"] {
        if let Some(mount) = mounts.iter().find(|m| m.0 == point) {
            assert!(
                host_devices.contains(&mount.2),
                "{point} is a filesystem of its own ({} {}): {mountinfo}",
                mount.3,
                mount.2
            );
        }
    }
    // Nothing was planted in the folders behind the binds either.
    let uid = uid_of(&root, "masks");
    let behind = root
        .path()
        .join("run/bundles")
        .join(format!("{uid}-c"))
        .join("mount-points");
    assert!(tree(&behind).contains(&"empty".to_string()), "{behind:?}");
    let planted: Vec<String> = tree(&behind)
        .into_iter()
        .filter(|p| p.contains("escape") || p.contains("planted"))
        .collect();
    assert!(planted.is_empty(), "{planted:?}");
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

/// What is left of a pod anywhere: its processes (by its root's path in
/// their command lines, and in its cgroups), its cgroups, its folder.
fn assert_nothing_left(root: &Root, uid: &str) {
    let cgroups = tests::pod_cgroups(uid);
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(
        !root.path().join("pods").join(uid).exists(),
        "the pod's folder is left"
    );
    let mounts = tests::mounts_anywhere(uid);
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let run = root.path().join("run");
    let states: Vec<String> = [run.clone(), run.join("bundles")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|id| id.starts_with(uid))
        .collect();
    assert!(states.is_empty(), "container states left: {states:?}");
}

fn uid_of(root: &Root, pod: &str) -> String {
    root.pod(pod)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn gone_or_zombie(pid: i32) -> bool {
    tests::proc_stat(pid).is_none_or(|s| s.state == 'Z')
}

#[test]
fn delete_kills_a_stopped_supervisor_and_nothing_comes_back() {
    let root = Root::with_busybox();
    // Another pod keeps the root's runtime tmpfs mounted, so that the stuck
    // pod's container states (which podctl removes: its supervisor cannot)
    // would be seen were they left.
    root.start(&pod("bystander", SLEEPER), &[]);
    for grace in [Some("0"), None] {
        root.start(&pod("stuck", SLEEPER), &[]);
        let uid = uid_of(&root, "stuck");
        let supervisor = root.supervisor_pid(&uid);
        let container = root.pid("stuck", "c");
        let pid = nix::unistd::Pid::from_raw(supervisor);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        // A stopped supervisor is not asked (it could not answer before the
        // 5 s a question may take): get shows its last status at once.
        let asked = std::time::Instant::now();
        let (code, out, err) = root.podctl(&["get", "pods"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("stuck ") && l.contains("Running")),
            "{out}"
        );
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(3),
            "get waited {:?} on the stopped supervisor",
            asked.elapsed()
        );
        let mut args = vec!["delete", "pod", "stuck"];
        if let Some(grace) = grace {
            args.extend(["--grace-period", grace]);
        }
        let (code, out, err) = root.podctl(&args);
        assert_eq!(code, 0, "{grace:?}: {out}{err}");
        assert!(out.contains("deleted"), "{out}");
        assert!(
            gone_or_zombie(supervisor),
            "{grace:?}: the stuck supervisor is killed"
        );
        assert!(
            gone_or_zombie(container),
            "{grace:?}: the container is killed"
        );
        assert_nothing_left(&root, &uid);
        // Were it only stopped, SIGCONT would let it make the pod again.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_nothing_left(&root, &uid);
        assert!(processes_with(&uid).is_empty());
    }
    let (code, out, err) = root.podctl(&["delete", "pod", "bystander"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(processes_with(root.path().to_str().unwrap()).is_empty());
}

/// A supervisor under a tracer (strace: it stops for the tracer at each of
/// its system calls, state `t`) is not a stopped one: `delete` lets it stop
/// its pod and exit by itself, where it used to kill it as if it were stopped.
#[test]
fn delete_lets_a_traced_supervisor_stop_its_pod_itself() {
    let root = Root::with_busybox();
    root.start(&pod("traced", SLEEPER), &[]);
    let uid = uid_of(&root, "traced");
    let supervisor = root.supervisor_pid(&uid);
    let container = root.pid("traced", "c");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let mut strace = tests::Guard(
        std::process::Command::new("strace")
            .arg("-o")
            .arg(trace.path())
            .arg("-p")
            .arg(supervisor.to_string())
            .spawn()
            .unwrap(),
    );
    let tracer = || {
        std::fs::read_to_string(format!("/proc/{supervisor}/status"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .map(|p| p.trim() != "0")
    };
    tests::wait_for(std::time::Duration::from_secs(10), || {
        tracer().unwrap_or(false).then_some(())
    })
    .expect("strace attached to the supervisor");
    let (code, out, err) = root.podctl(&["delete", "pod", "traced", "--grace-period", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !err.contains("killing it"),
        "the traced supervisor was killed: {err}"
    );
    strace.0.wait().unwrap();
    let trace = std::fs::read_to_string(trace.path()).unwrap();
    let end = trace.lines().last().unwrap_or_default().to_string();
    assert!(
        end.contains("+++ exited with"),
        "the supervisor did not exit by itself: {end}"
    );
    assert!(gone_or_zombie(supervisor) && gone_or_zombie(container));
    assert_nothing_left(&root, &uid);
}

/// Descriptors of process `pid` that are `link` (such as `pipe:[123]`).
fn holds(pid: i32, link: &str) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == link))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// What the caller of `podctl run -d` leaves open without close-on-exec (a
/// shell's `exec 7>&1`, a pipe into `tee`) stays the caller's: neither the
/// long-lived supervisor nor pause nor a container holds it, so a reader
/// of that pipe sees its end as soon as podctl exits.
#[test]
fn run_hands_none_of_the_caller_s_open_descriptors_to_the_pod() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let root = Root::with_busybox();
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let pipe = std::fs::read_link(format!("/proc/self/fd/{}", read.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let manifest = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(manifest.path(), pod("caller", SLEEPER)).unwrap();
    let mut command = root.command();
    command.args(["run", "-d", "-f", manifest.path().to_str().unwrap()]);
    let write_fd = write.as_raw_fd();
    // SAFETY: between fork and exec the hook only calls dup2(2), which
    // leaves the copy at 7 without close-on-exec, as a shell's `7>&1` would.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::dup2(write_fd, 7)
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let (code, out, err) = tests::output(&mut command);
    drop(write);
    assert_eq!(code, 0, "{out}{err}");
    let uid = uid_of(&root, "caller");
    for (who, pid) in [
        ("supervisor", root.supervisor_pid(&uid)),
        ("pause", root.pid("caller", "pause")),
        ("container", root.pid("caller", "c")),
    ] {
        let fds = holds(pid, &pipe);
        assert!(
            fds.is_empty(),
            "the {who} holds the caller's pipe as {fds:?}"
        );
    }
    // With podctl gone, nothing writes to the pipe: its reader sees the end.
    let mut poll = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&read),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(2000u16)).unwrap();
    let hung_up = poll[0]
        .revents()
        .is_some_and(|r| r.contains(nix::poll::PollFlags::POLLHUP));
    assert!(ready == 1 && hung_up, "the pipe's reader never saw its end");
}

/// `podctl exec` without `-t` gives the command pipes it relays, never the
/// caller's own stdout and stderr: a process in the container holding the
/// caller's terminal could push input into the caller's shell (TIOCSTI),
/// and one holding the caller's file could reopen it through
/// `/proc/self/fd` and read what was in it.
#[test]
fn exec_relays_the_callers_streams_and_never_hands_them_over() {
    let root = Root::with_busybox();
    root.start(&pod("relayed", SLEEPER), &[]);
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let err_path = dir.path().join("err");
    std::fs::write(&out_path, "host secret\n").unwrap();
    let append = |path: &Path| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap()
    };
    // First the theft (of a pipe, it would take the command's own output).
    let script = "timeout 1 dd if=/proc/$$/fd/1 of=/tmp/stolen 2>/dev/null; \
                  readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&1; \
                  echo to-stderr >&2; sleep 300 & exit 3";
    let mut command = root.command();
    command
        .args(["exec", "relayed", "--", "sh", "-c", script])
        .stdout(append(&out_path))
        .stderr(append(&err_path));
    let started = std::time::Instant::now();
    let code = command.status().unwrap().code();
    assert_eq!(
        code,
        Some(3),
        "{}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    // A process the command left behind holds the pipes; exec does not wait for it.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let out = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "host secret");
    assert!(
        lines[1].starts_with("pipe:[") && lines[2].starts_with("pipe:["),
        "the command holds the caller's own files: {out}"
    );
    assert!(
        std::fs::read_to_string(&err_path)
            .unwrap()
            .contains("to-stderr")
    );
    let (_, stolen, _) = root.podctl(&["exec", "relayed", "--", "cat", "/tmp/stolen"]);
    assert!(
        !stolen.contains("host secret"),
        "read through /proc/self/fd: {stolen}"
    );
    // On a terminal too: the command sees a pipe, not the caller's terminal.
    let (code, out, err) = tests::output(std::process::Command::new("script").args([
        "-qec",
        &format!(
            "{} exec relayed -- readlink /proc/self/fd/1",
            root.shell_prefix()
        ),
        "/dev/null",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim().starts_with("pipe:["), "{out}");
}

#[test]
fn a_lying_pid_file_neither_hides_the_supervisor_nor_gets_another_process_killed() {
    let root = Root::with_busybox();
    root.start(&pod("liar", SLEEPER), &[]);
    let uid = uid_of(&root, "liar");
    let supervisor = root.supervisor_pid(&uid);
    let bystander = tests::Guard(
        std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap(),
    );
    std::fs::write(
        root.path().join("pods").join(&uid).join("supervisor.pid"),
        format!("{}\n", bystander.pid()),
    )
    .unwrap();
    // The pod is still known to be supervised: Running, not Unknown.
    assert_eq!(root.pod("liar")["status"]["phase"], "Running");
    let (code, out, err) = root.podctl(&["delete", "pod", "liar", "--grace-period", "5"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(gone_or_zombie(supervisor), "the real supervisor stopped");
    assert!(
        tests::proc_stat(bystander.pid()).is_some_and(|s| s.state != 'Z'),
        "the bystander lives"
    );
    assert_nothing_left(&root, &uid);
}

#[test]
fn a_corrupt_record_is_shown_unknown_and_can_be_deleted() {
    let root = Root::with_busybox();
    root.start(&pod("broken", SLEEPER), &[]);
    root.start(&pod("healthy", SLEEPER), &[]);
    let uid = uid_of(&root, "broken");
    let container = root.pid("broken", "c");
    let record = root.path().join("pods").join(&uid).join("pod.json");
    let text = std::fs::read(&record).unwrap();
    std::fs::write(&record, &text[..text.len() / 2]).unwrap();
    let (code, out, err) = root.podctl(&["get", "pods"]);
    assert_eq!(code, 0, "{err}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("broken").contains("Unknown"), "{out}");
    assert!(row("healthy").contains("Running"), "{out}");
    assert!(err.contains("pod.json"), "the reason names the file: {err}");
    let broken = root.pod("broken");
    assert_eq!(broken["status"]["phase"], "Unknown");
    assert_eq!(broken["status"]["reason"], "RecordUnreadable");
    // Its supervisor stopped, podctl removes the containers' states itself,
    // finding them without the record.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(root.supervisor_pid(&uid)),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let (code, out, err) = root.podctl(&["delete", "pod", "broken"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(gone_or_zombie(container));
    assert_nothing_left(&root, &uid);
    assert_eq!(root.pod("healthy")["status"]["phase"], "Running");
}

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "podctl-small-disk",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        Self(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn deleting_works_on_a_full_disk() {
    let disk = SmallDisk::new("48m");
    let root = Root::with_busybox_in(disk.0.path());
    let names = ["full-a", "full-b", "full-c"];
    for name in names {
        root.start(&pod(name, SLEEPER), &[]);
    }
    let uids: Vec<String> = names.iter().map(|n| uid_of(&root, n)).collect();
    // Fill what is left of the disk.
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=1M"])
        .arg(format!("of={}", disk.0.path().join("fill").display()))
        .stderr(std::process::Stdio::null())
        .status();
    assert!(
        std::fs::write(disk.0.path().join("probe"), vec![0u8; 1 << 20]).is_err(),
        "the disk is full"
    );
    let (code, out, err) = root.podctl(&["delete", "pod", "--all"]);
    assert_eq!(code, 0, "{out}{err}");
    for uid in &uids {
        assert_nothing_left(&root, uid);
    }
    assert!(processes_with(root.path().to_str().unwrap()).is_empty());
}

/// A static program that makes system calls the filter must refuse and
/// prints `name result errno` for each.
const SYSCALL_PROBE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>
static void show(const char *name, long r) { printf("%s %ld %d\n", name, r, r < 0 ? errno : 0); }
int main(void) {
    show("io_uring_setup", syscall(SYS_io_uring_setup, 1, (void *)0));
    show("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
    show("personality_no_randomize", personality(ADDR_NO_RANDOMIZE));
    show("personality_query", personality(0xffffffff));
    show("personality_linux32", personality(PER_LINUX32));
    return 0;
}
"#;

/// `source` compiled by gcc into a static program `dir/name`, with `flags`.
fn compiled(dir: &Path, name: &str, source: &str, flags: &[&str]) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.c"));
    std::fs::write(&file, source).unwrap();
    let binary = dir.join(name);
    let (code, _, err) = tests::output(
        std::process::Command::new("gcc")
            .args(["-static", "-O1"])
            .args(flags)
            .arg("-o")
            .arg(&binary)
            .arg(&file),
    );
    assert_eq!(code, 0, "gcc (installed by cargo xtask setup): {err}");
    binary
}

#[test]
fn the_seccomp_profile_refuses_io_uring_keyctl_and_odd_personas() {
    let build = tempfile::tempdir().unwrap();
    let binary = compiled(build.path(), "probe", SYSCALL_PROBE, &[]);
    let root = Root::with_busybox();
    let manifest = pod(
        "filtered",
        "  volumes: [{name: tools, emptyDir: {}}]\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{name: tools, mountPath: /tools}]}\n",
    );
    root.start(&manifest, &[]);
    let uid = uid_of(&root, "filtered");
    let volume = root
        .path()
        .join("pods")
        .join(&uid)
        .join("volumes/tools/probe");
    std::fs::copy(&binary, &volume).unwrap();
    let (code, out, err) = root.podctl(&["exec", "filtered", "--", "/tools/probe"]);
    assert_eq!(code, 0, "{err}");
    let result = |name: &str| -> (i64, i32) {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields[1].parse().unwrap(), fields[2].parse().unwrap())
    };
    const EPERM: i32 = 1;
    assert_eq!(result("io_uring_setup"), (-1, EPERM), "{out}");
    assert_eq!(result("keyctl"), (-1, EPERM), "{out}");
    assert_eq!(result("personality_no_randomize"), (-1, EPERM), "{out}");
    assert!(result("personality_query").0 >= 0, "{out}");
    assert!(result("personality_linux32").0 >= 0, "{out}");
    // The same program outside any filter gets past seccomp (EFAULT, not EPERM).
    let (_, host, _) = tests::output(&mut std::process::Command::new(&binary));
    assert!(
        host.contains("io_uring_setup -1 14") || host.contains("io_uring_setup -1 38"),
        "{host}"
    );
}

/// A pause that makes, as system calls, what the runtime's error report in
/// pause's process calls (`clock_gettime`, `gettid`) and dies if either is
/// refused, then waits as pause does. No libc: pause's filter refuses what a
/// libc's start-up calls. x86_64 system call numbers.
const CLOCK_PROBE_PAUSE: &str = r#"
static long sys(long n, long a, long b) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}
void _start(void) {
    long ts[2];
    if (sys(228, 0, (long)ts) != 0) sys(231, 3, 0);
    if (sys(186, 0, 0) < 0) sys(231, 4, 0);
    for (;;) sys(34, 0, 0);
}
"#;

/// When `execve` fails in pause's container (a bad pause image), the
/// runtime logs why from pause's process, under pause's filter: its log line
/// reads the clock and the thread id. This host's vDSO answers
/// `clock_gettime` without a system call, but where the clock source has no
/// vDSO (emulated VMs) it is one: refusing it made the runtime panic there
/// and `podctl run` said "BrokenChannel" instead of what was wrong. The probe
/// makes the calls as system calls, under pause's filter, as pause.
#[cfg(target_arch = "x86_64")]
#[test]
fn pause_s_filter_lets_the_runtime_read_the_clock_and_its_thread_id() {
    let build = tempfile::tempdir().unwrap();
    let binary = compiled(build.path(), "pause", CLOCK_PROBE_PAUSE, &["-nostdlib"]);
    let probe = std::fs::read(&binary).unwrap();
    let layer = tests::raw_tar(&[
        tests::Entry::Dir("dev"),
        tests::Entry::Executable("pause", &probe),
    ]);
    let layout = build.path().join("layout");
    tests::write_layout(&layout, "latest", &[layer]);
    let root = Root::with_busybox();
    root.import_as_pause(&layout);
    root.start(&pod("clocked", SLEEPER), &[]);
    let pause = root.pid("clocked", "pause");
    assert!(
        tests::seccomp_filter_length(pause).is_some_and(|n| n < 80),
        "the probe runs under pause's filter"
    );
    // Given time to make its calls, the probe waits in pause(2): it was not refused.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let state = tests::proc_stat(pause).map(|s| s.state);
    assert_eq!(state, Some('S'), "the probe died: a call was refused");
    let (code, _, err) = root.podctl(&["delete", "pod", "clocked", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_supervisor_dying_at_start_is_quoted_and_leaves_nothing() {
    let root = Root::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("podctl-supervisor");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'the supervisor fell over: no memory' >&2\nexit 1\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&fake).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, pod("dies", SLEEPER)).unwrap();
    let (code, _, err) = tests::output(
        root.command()
            .args(["run", "-d", "-f"])
            .arg(&file)
            .env("PODCTL_SUPERVISOR", &fake),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the supervisor fell over: no memory"),
        "its last words are shown: {err}"
    );
    let pods = tree(&root.path().join("pods"));
    assert!(pods.is_empty() || pods == ["by-name"], "{pods:?}");
}

#[test]
fn a_sub_path_through_a_planted_symlink_is_refused() {
    let root = tests::Root::with_busybox();
    let marker = root.path().join("host-secret");
    std::fs::create_dir_all(&marker).unwrap();
    std::fs::write(marker.join("token"), "host only").unwrap();
    // The init container can write the emptyDir: it plants a link to a host folder.
    let manifest = format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: planted}}
spec:
  volumes: [{{name: shared, emptyDir: {{}}}}]
  initContainers:
  - name: plant
    image: busybox
    command: [ln, -s, {target}, /shared/escape]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  containers:
  - name: victim
    image: busybox
    command: [sh, -c, 'cat /mnt/token; sleep 3600']
    volumeMounts: [{{name: shared, mountPath: /mnt, subPath: escape}}]
",
        target = marker.display()
    );
    root.start(&manifest, &["--backoff", "200ms,1s"]);
    let status = tests::wait_for(std::time::Duration::from_secs(20), || {
        let s = root.container_status("planted", "victim");
        (s["state"]["waiting"]["reason"] == "CreateContainerError").then_some(s)
    })
    .expect("the container is not made");
    let message = status["state"]["waiting"]["message"].as_str().unwrap();
    assert!(message.contains("symbolic link"), "{message}");
    assert!(!root.logs("planted", "victim").contains("host only"));
}

/// A hostile image's NSS module: loaded into a process, its constructor
/// says so on stderr.
#[cfg(target_arch = "x86_64")]
const NSS_MODULE: &str = r#"
static long sys(long n, long a, long b, long c) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
__attribute__((constructor)) static void loaded(void) {
    static const char line[] = "hostile nss module ran before the container's command\n";
    sys(1, 2, (long)line, sizeof line - 1);
}
"#;

/// A layer with the host's static busybox as `/bin/busybox`, `sh` and
/// `sleep`, and `extra` entries.
fn busybox_layer(extra: Vec<tests::Entry>) -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static (cargo xtask setup)");
    let mut entries = vec![
        tests::Entry::Dir("bin"),
        tests::Entry::Executable("bin/busybox", &busybox),
        tests::Entry::Symlink("bin/sh", "busybox"),
        tests::Entry::Symlink("bin/sleep", "busybox"),
        tests::Entry::Dir("etc"),
        tests::Entry::Dir("tmp"),
    ];
    entries.extend(extra);
    tests::raw_tar(&entries)
}

/// Import a one-layer image as `name`, with `run` over its config's defaults.
fn import_image(root: &Root, name: &str, layer: Vec<u8>, run: serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    tests::write_layout_with(dir.path(), "latest", &[layer], run);
    let (code, _, err) = root.import_named(dir.path(), name);
    assert_eq!(code, 0, "{err}");
}

/// The runtime's init sets `HOME` when the container's env has none, and
/// libcontainer asks glibc (`getpwuid_r`) for it from inside the container,
/// after `pivot_root`: glibc then follows the image's `/etc/nsswitch.conf`
/// and loads the image's NSS module into the runtime's process, a copy of
/// the pod's supervisor holding every container's env, before the
/// container's command runs. podctl sets `HOME` itself, from the image's
/// `/etc/passwd` as runc and crun do (`/` for a user not there), so no
/// image code runs before the container's command.
#[cfg(target_arch = "x86_64")]
#[test]
fn an_image_s_nss_module_never_runs_in_the_runtime_and_home_comes_from_its_passwd() {
    let build = tempfile::tempdir().unwrap();
    let source = build.path().join("nss.c");
    std::fs::write(&source, NSS_MODULE).unwrap();
    let module = build.path().join("libnss_hostile.so.2");
    let (code, _, err) = tests::output(
        std::process::Command::new("gcc")
            .args(["-shared", "-fPIC", "-nostdlib", "-O1", "-o"])
            .arg(&module)
            .arg(&source),
    );
    assert_eq!(code, 0, "gcc (installed by cargo xtask setup): {err}");
    let module = std::fs::read(&module).unwrap();
    let root = Root::with_busybox();
    import_image(
        &root,
        "hostile-nss",
        busybox_layer(vec![
            tests::Entry::File(
                "etc/passwd",
                b"root:x:0:0:root:/root:/bin/sh\nworker:x:1234:1234:worker:/home/worker:/bin/sh\n",
            ),
            tests::Entry::File(
                "etc/nsswitch.conf",
                b"passwd: hostile files\ngroup: hostile files\n",
            ),
            tests::Entry::Dir("lib"),
            tests::Entry::Dir("lib/x86_64-linux-gnu"),
            tests::Entry::File("lib/x86_64-linux-gnu/libnss_hostile.so.2", &module),
            tests::Entry::Dir("usr"),
            tests::Entry::Dir("usr/lib"),
            tests::Entry::Dir("usr/lib/x86_64-linux-gnu"),
            tests::Entry::File("usr/lib/x86_64-linux-gnu/libnss_hostile.so.2", &module),
        ]),
        serde_json::json!({}),
    );
    let show = "[sh, -c, 'echo \"HOME=$HOME\"; sleep 3600']";
    root.start(
        &pod(
            "nss",
            &format!(
                "  containers:\n  - {{name: root, image: hostile-nss, command: {show}}}\n  \
                 - {{name: worker, image: hostile-nss, command: {show}, securityContext: {{runAsUser: 1234}}}}\n  \
                 - {{name: nobody, image: hostile-nss, command: {show}, securityContext: {{runAsUser: 4321}}}}\n  \
                 - {{name: own, image: hostile-nss, command: {show}, env: [{{name: HOME, value: /data}}]}}\n"
            ),
        ),
        &[],
    );
    for (container, home) in [
        ("root", "/root"),
        ("worker", "/home/worker"),
        ("nobody", "/"),
        ("own", "/data"),
    ] {
        let logs = root.wait_logs("nss", container, "HOME=");
        assert!(
            logs.contains(&format!("HOME={home}\n")),
            "{container}: HOME from the image's /etc/passwd: {logs:?}"
        );
        assert!(
            !logs.contains("hostile nss module"),
            "{container}: the image's NSS module ran in the runtime: {logs:?}"
        );
    }
    let (code, _, err) = root.podctl(&["delete", "pod", "nss", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
}

/// `/etc/passwd` and `/etc/group` are the image's, read inside its root
/// filesystem: a symlink to an absolute path resolves there, not on the
/// host, so an image cannot make podctl read a host file (or wait forever
/// on a host FIFO) to pick its user and `HOME`.
#[test]
fn an_image_s_passwd_symlink_resolves_inside_its_root_not_on_the_host() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("passwd");
    std::fs::write(&secret, "someone:x:4242:4242::/host-home:/bin/sh\n").unwrap();
    let fifo = host.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let root = Root::with_busybox();
    let layer = |target: &Path| {
        busybox_layer(vec![tests::Entry::Symlink(
            "etc/passwd",
            target.to_str().unwrap(),
        )])
    };
    import_image(
        &root,
        "named-user",
        layer(&secret),
        serde_json::json!({"User": "someone"}),
    );
    import_image(&root, "fifo-passwd", layer(&fifo), serde_json::json!({}));
    // The user's name is looked up in the image, where the link leads
    // nowhere: the kubelet's CreateContainerConfigError, no process.
    root.start(
        &pod(
            "named",
            "  containers:\n  - {name: c, image: named-user, command: [sleep, '3600']}\n",
        ),
        &[],
    );
    let status = root.container_status("named", "c");
    assert_eq!(
        status["state"]["waiting"]["reason"], "CreateContainerConfigError",
        "{status}"
    );
    assert_eq!(
        status["state"]["waiting"]["message"],
        "container c: image user \"someone\" is not in the image's /etc/passwd",
        "{status}"
    );
    let (code, _, err) = root.podctl(&["delete", "pod", "named", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    // A link to a host FIFO: HOME falls back to / instead of the start hanging.
    root.start(
        &pod(
            "fifo",
            "  containers:\n  - {name: c, image: fifo-passwd, command: [sh, -c, 'echo \"HOME=$HOME\"; sleep 3600'], securityContext: {runAsUser: 4242}}\n",
        ),
        &[],
    );
    let logs = root.wait_logs("fifo", "c", "HOME=");
    assert!(logs.contains("HOME=/\n"), "{logs:?}");
    let (code, _, err) = root.podctl(&["delete", "pod", "fifo", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    let pods = tree(&root.path().join("pods"));
    assert!(pods.is_empty() || pods == ["by-name"], "{pods:?}");
}
