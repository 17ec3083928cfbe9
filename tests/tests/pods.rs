//! Pods end to end through the real podctl: the namespace layout, what the
//! containers of a pod share, volumes, limits, security defaults, cleanup.

use std::process::Command;
use std::time::Duration;

use tests::{
    Root, children_of, example, mounts_anywhere, ns, output, proc_stat, wait_for, workspace,
};

fn pod_uid(root: &Root, name: &str) -> String {
    root.pod(name)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Nothing of the pod is left: processes, mounts, cgroups, folders.
fn assert_gone(root: &Root, uid: &str, pids: &[i32]) {
    for pid in pids {
        assert!(
            proc_stat(*pid).is_none_or(|s| s.state == 'Z'),
            "process {pid} survived the pod"
        );
    }
    let mounts = mounts_anywhere(uid);
    assert!(mounts.is_empty(), "a mount of the pod is left: {mounts:?}");
    let cgroups = Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "5", "-name"])
        .arg(format!("pod{uid}"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cgroups.stdout),
        "",
        "cgroups of the pod are left"
    );
    assert!(
        !root.path().join("pods").join(uid).exists(),
        "the pod's folder is left"
    );
    let run: Vec<_> = std::fs::read_dir(root.path().join("run"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        run.iter().all(|n| !n.to_string_lossy().starts_with(uid)),
        "libcontainer state is left: {run:?}"
    );
}

/// A root running pod `name`: one container `c` sleeping.
fn sleeper_pod(name: &str) -> Root {
    let root = Root::with_busybox();
    root.start(
        &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - {{name: c, image: busybox, command: [sleep, '3600']}}\n"),
        &[],
    );
    root
}

/// A second after the start, an idle supervisor drops its mappings of the
/// code and read-only data it touched while starting (the pages stay in the
/// page cache, shared): what it keeps mapped is what its loop has run since.
/// The pod is found through its folder, not by asking podctl: answering a
/// request runs code the loop does not, and on a slow host (an emulated VM)
/// the request came after the drop and mapped it again. The supervisor is
/// linked statically: it maps no shared object at all.
#[test]
fn an_idle_supervisor_keeps_little_of_its_code_mapped() {
    let root = sleeper_pod("idle");
    let link = std::fs::read_link(root.path().join("pods/by-name/default_idle")).unwrap();
    let uid = link.file_name().unwrap().to_str().unwrap();
    let supervisor = root.supervisor_pid(uid);
    std::thread::sleep(Duration::from_secs(3));
    let smaps = std::fs::read_to_string(format!("/proc/{supervisor}/smaps")).unwrap();
    // (start, end, perms, offset, Rss kB) of the supervisor binary's mappings.
    let mut mappings: Vec<(u64, u64, String, String, u64)> = Vec::new();
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 6 && fields[5].ends_with("/podctl-supervisor") {
            let (start, end) = fields[0].split_once('-').unwrap();
            mappings.push((
                u64::from_str_radix(start, 16).unwrap(),
                u64::from_str_radix(end, 16).unwrap(),
                fields[1].to_string(),
                fields[2].to_string(),
                0,
            ));
        } else if fields.first() == Some(&"Rss:")
            && let Some(last) = mappings.last_mut()
            && last.4 == 0
        {
            last.4 = fields[1].parse().unwrap();
        }
    }
    let code = mappings
        .iter()
        .find(|m| m.2 == "r-xp")
        .expect("the code mapping");
    let size_kb = (code.1 - code.0) / 1024;
    assert!(
        code.4 * 4 < size_kb,
        "{} of {size_kb} kB of code mapped: {mappings:?}",
        code.4
    );
    let read_only = mappings
        .iter()
        .find(|m| m.2 == "r--p" && u64::from_str_radix(&m.3, 16) == Ok(0))
        .expect("the read-only data mapping");
    assert!(read_only.4 <= 128, "read-only data mapped: {mappings:?}");
    // Linked statically: no loader or shared library whose relocated data
    // every supervisor would hold a private copy of.
    let shared: Vec<&str> = smaps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|path| path.ends_with(".so") || path.contains(".so."))
        .collect();
    assert!(shared.is_empty(), "shared objects mapped: {shared:?}");
    let (code, _, err) = root.podctl(&["delete", "pod", "idle", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
}

/// No process of a create and delete (the supervisor, its throw-away
/// children, libcontainer's intermediate and init processes) reads the
/// mount table or its own cgroups again and again: a cgroup v1 manager of
/// the patched libcgroups (vendor/libcgroups) reads each once, not once per
/// controller; and on a v1 host a container's intermediate process moves
/// itself into its cgroups through `tasks`, not `cgroup.procs`. Counted
/// with strace on the supervisor and all it forks.
#[test]
fn a_container_create_reads_the_mount_table_once_and_moves_through_tasks() {
    let root = Root::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let wrapper = dir.path().join("podctl-supervisor");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec strace -f -qq -e trace=open,openat,openat2 -o {} {} \"$@\"\n",
            trace.display(),
            tests::bin("podctl-supervisor").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: traced}\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n",
    )
    .unwrap();
    let (code, _, err) = output(
        root.command()
            .args(["run", "-d", "-f"])
            .arg(&file)
            .env("PODCTL_SUPERVISOR", &wrapper),
    );
    assert_eq!(code, 0, "{err}");
    let uid = pod_uid(&root, "traced");
    let pod = format!("pod{uid}");
    // On a v1 host the container's intermediate process moved itself through
    // each hierarchy's `tasks` file (no global lock), and the container is in
    // its own cgroup in every hierarchy mounted at /sys/fs/cgroup/<controllers>.
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v1 {
        let cgroups =
            std::fs::read_to_string(format!("/proc/{}/cgroup", root.pid("traced", "c"))).unwrap();
        let mut checked = 0;
        for line in cgroups.lines() {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (
                fields.next(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            );
            if controllers.is_empty()
                || controllers.starts_with("name=")
                || !std::path::Path::new("/sys/fs/cgroup")
                    .join(controllers)
                    .is_dir()
            {
                continue;
            }
            assert!(
                path.ends_with(&format!("/{pod}/c")),
                "{controllers}: {path}\n{cgroups}"
            );
            checked += 1;
        }
        assert!(checked >= 3, "{cgroups}");
    }
    let (code, _, err) = root.podctl(&["delete", "pod", "traced", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&trace).unwrap();
    if v1 {
        let written = |file: &str| {
            text.lines()
                .filter(|l| {
                    l.contains(&pod) && l.contains(&format!("/{file}\"")) && l.contains("O_WRONLY")
                })
                .count()
        };
        assert!(
            written("tasks") >= 3,
            "no move through tasks files:\n{text}"
        );
        assert_eq!(
            written("cgroup.procs"),
            0,
            "a move through cgroup.procs:\n{text}"
        );
    }
    // Opened by path, or by name below an open /proc/self (libcgroups' way).
    let mut reads: std::collections::BTreeMap<(String, &str), usize> = Default::default();
    for line in text.lines() {
        let pid = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        for file in ["mountinfo", "cgroup"] {
            if line.contains(&format!("\"/proc/self/{file}\""))
                || line.contains(&format!(", \"{file}\""))
            {
                *reads.entry((pid.clone(), file)).or_default() += 1;
            }
        }
    }
    assert!(
        reads.keys().any(|(_, file)| *file == "mountinfo"),
        "the trace shows no read of mountinfo at all: {}",
        &text[..text.len().min(2000)]
    );
    // A manager reads each file once; a process makes a few (a teardown, one
    // per container). libcgroups 0.7 read both for every controller: 12 times.
    let many: Vec<_> = reads.iter().filter(|(_, n)| **n > 4).collect();
    assert!(
        many.is_empty(),
        "processes reading a file again and again: {many:?}"
    );
}

/// pause's root is its image's layer bound read-only: no overlay, no upper
/// folder written on the disk for it.
/// On a cgroup v1 host whose root cpuset balances every CPU (the default,
/// one scheduling domain for all), the pod's cpusets leave balancing to the
/// root: each has `cpuset.sched_load_balance` 0 and its parent's CPUs. A
/// cpuset that balances makes the kernel rebuild the scheduling domains,
/// walking every cpuset on the host, when its CPUs are set and when it is
/// removed: creates and deletes grew with the containers running. (A pure
/// v2 host has no such flag: there the pod's cgroup is checked to exist.)
#[test]
fn a_pods_cpusets_leave_scheduler_balancing_to_the_root() {
    let root = sleeper_pod("balanced");
    let uid = pod_uid(&root, "balanced");
    let cpusets: Vec<String> = tests::pod_cgroups(&uid)
        .into_iter()
        .filter(|d| d.starts_with("/sys/fs/cgroup/cpuset/"))
        .collect();
    let v1 = std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.sched_load_balance").exists();
    if !v1 {
        assert!(
            std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            "no v1 cpuset hierarchy and no v2 root"
        );
        assert!(
            !tests::pod_cgroups(&uid).is_empty(),
            "the pod has no cgroup"
        );
        return;
    }
    let read = |dir: &std::path::Path, file: &str| {
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        read(
            std::path::Path::new("/sys/fs/cgroup/cpuset"),
            "cpuset.sched_load_balance"
        ),
        "1"
    );
    assert_eq!(cpusets.len(), 1, "{cpusets:?}");
    let pod = std::path::PathBuf::from(&cpusets[0]);
    let dirs = [pod.clone(), pod.join("_sandbox"), pod.join("c")];
    for dir in &dirs {
        assert_eq!(
            read(dir, "cpuset.sched_load_balance"),
            "0",
            "{}",
            dir.display()
        );
        assert_eq!(
            read(dir, "cpuset.cpus"),
            read(dir.parent().unwrap(), "cpuset.cpus"),
            "{}",
            dir.display()
        );
    }
    let (code, _, err) = root.podctl(&["delete", "pod", "balanced", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(!pod.exists());
}

#[test]
fn pause_root_is_its_image_layer_read_only() {
    let root = sleeper_pod("bare");
    let pause = root.pid("bare", "pause");
    let table = std::fs::read_to_string(format!("/proc/{pause}/mountinfo")).unwrap();
    let line = table
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("pause's root in {table}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(
        fields[3].contains("/images/layers/sha256/"),
        "the layer itself: {line}"
    );
    assert!(fields[5].split(',').any(|o| o == "ro"), "read-only: {line}");
    let fs_type = fields[fields.iter().position(|f| *f == "-").unwrap() + 1];
    assert_ne!(fs_type, "overlay", "{line}");
    let sandbox = root
        .path()
        .join("pods")
        .join(pod_uid(&root, "bare"))
        .join("_sandbox");
    assert!(!sandbox.join("upper").exists(), "no upper folder for pause");
    let (code, _, err) = root.podctl(&["delete", "pod", "bare", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
}

/// pause's filter allows its few calls only; an app container's is the
/// default profile, some ten times longer.
#[test]
fn pause_runs_under_a_seccomp_filter_of_its_few_calls() {
    let root = sleeper_pod("narrow");
    let pause = root.pid("narrow", "pause");
    let app = root.pid("narrow", "c");
    let pause_filter = tests::seccomp_filter_length(pause).expect("pause has a filter");
    let app_filter = tests::seccomp_filter_length(app).expect("the container has a filter");
    assert!(
        pause_filter < 80,
        "pause's filter: {pause_filter} instructions"
    );
    assert!(
        app_filter > 200,
        "the container's filter: {app_filter} instructions"
    );
    // Let go, pause waits in pause(2) again (it may run a moment after the detach).
    let state = wait_for(Duration::from_secs(5), || {
        proc_stat(pause)
            .map(|s| s.state)
            .filter(|state| *state == 'S')
    });
    assert_eq!(state, Some('S'), "pause did not sleep again");
    let (code, _, err) = root.podctl(&["delete", "pod", "narrow", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn two_containers_share_net_ipc_uts_with_pause_and_nothing_else() {
    let root = Root::with_busybox();
    let manifest =
        std::fs::read_to_string(workspace().join("examples/two-containers-pod.yml")).unwrap();
    let (code, out, err) = root.run_manifest(&manifest, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "two-containers-pod\n");
    assert!(err.contains("note: a Job"), "{err}");
    let pause = root.pid("two-containers-pod", "pause");
    let host = std::process::id() as i32;
    let mut pids = vec![pause];
    for name in ["hello", "hello2"] {
        let pid = root.pid("two-containers-pod", name);
        pids.push(pid);
        for kind in ["net", "ipc", "uts"] {
            assert_eq!(ns(pid, kind), ns(pause, kind), "{name}: {kind} is pause's");
            assert_ne!(
                ns(pid, kind),
                ns(host, kind),
                "{name}: {kind} is not the host's"
            );
        }
        assert_ne!(
            ns(pid, "mnt"),
            ns(pause, "mnt"),
            "{name}: own mount namespace"
        );
        assert_ne!(ns(pid, "mnt"), ns(host, "mnt"));
        assert_ne!(
            ns(pid, "pid"),
            ns(pause, "pid"),
            "{name}: own pid namespace"
        );
        assert_ne!(ns(pid, "pid"), ns(host, "pid"));
        assert_eq!(
            ns(pid, "user"),
            ns(host, "user"),
            "{name}: user is the host's"
        );
        // A cgroup namespace of its own, as Docker and containerd give.
        assert_ne!(
            ns(pid, "cgroup"),
            ns(host, "cgroup"),
            "{name}: own cgroup namespace"
        );
        assert_ne!(ns(pid, "cgroup"), ns(pause, "cgroup"));
    }
    assert_ne!(ns(pids[1], "mnt"), ns(pids[2], "mnt"));
    assert_eq!(
        root.wait_logs("two-containers-pod", "hello", "first container"),
        "first container\n"
    );
    assert_eq!(
        root.wait_logs("two-containers-pod", "hello2", "second container"),
        "second container\n"
    );
    let (_, table, _) = root.podctl(&["get", "pods"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..4],
        ["two-containers-pod", "2/2", "Running", "0"],
        "{table}"
    );

    let uid = pod_uid(&root, "two-containers-pod");
    // pause joined the namespaces pinned before it, like every container:
    // the pins are those very namespaces (an nsfs file's inode is its
    // namespace's), held in the supervisor's mount namespace; the host's
    // table keeps the network's pin only.
    let pins = root.path().join("ns").join(&uid);
    let supervisor = root.supervisor_pid(&uid);
    for kind in ["net", "ipc", "uts"] {
        use std::os::unix::fs::MetadataExt;
        let own_pins = root.path().join("run/pins").join(&uid);
        let held = format!("/proc/{supervisor}/root{}/{kind}", own_pins.display());
        let pin = std::fs::metadata(held).unwrap().ino();
        assert_eq!(
            ns(pause, kind),
            format!("{kind}:[{pin}]"),
            "pause's {kind} is the pin"
        );
    }
    {
        use std::os::unix::fs::MetadataExt;
        let net = std::fs::metadata(pins.join("net")).unwrap().ino();
        assert_eq!(ns(pause, "net"), format!("net:[{net}]"));
        assert!(!pins.join("ipc").exists() && !pins.join("uts").exists());
    }
    // libcontainer's state is on a tmpfs (the root's is on a disk).
    let run = root.path().join("run");
    assert!(run.join(format!("{uid}-hello/state.json")).is_file());
    let fs = nix::sys::statfs::statfs(&run).unwrap();
    assert_eq!(fs.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
    let (code, out, err) =
        root.podctl(&["delete", "pod", "two-containers-pod", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "pod \"two-containers-pod\" deleted\n");
    assert_gone(&root, &uid, &pids);
    assert!(!pins.exists(), "the pins are removed with the pod");
}

#[test]
fn a_supervisor_carries_its_own_pods_pins_and_no_other() {
    // Every pod pins three namespaces in the host's table; a supervisor
    // (and every container it makes) would otherwise copy them all.
    let root = Root::with_busybox();
    let pod = |name: &str| {
        format!(
            "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: c, image: busybox, command: [sleep, '60']}}]\n"
        )
    };
    for name in ["first", "second"] {
        let (code, _, err) = root.run_manifest(&pod(name), &[]);
        assert_eq!(code, 0, "{err}");
    }
    let (first, second) = (pod_uid(&root, "first"), pod_uid(&root, "second"));
    let own = std::fs::read_to_string(format!("/proc/{}/mountinfo", root.supervisor_pid(&second)))
        .unwrap();
    assert!(
        !own.contains(&first),
        "the first pod's pins are in the second's supervisor: {own}"
    );
    let pins = root.path().join("run/pins").join(&second);
    let mut kinds: Vec<&str> = own
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|t| t.starts_with(pins.to_str().unwrap()))
        })
        .filter_map(|l| l.split(' ').nth(3)?.split(':').next())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["ipc", "net", "uts"],
        "its own pins, under the root's run folder: {own}"
    );
    // Its container is in those very namespaces.
    let c = root.pid("second", "c");
    let supervisor = root.supervisor_pid(&second);
    for kind in ["net", "ipc", "uts"] {
        use std::os::unix::fs::MetadataExt;
        let pin = format!("/proc/{supervisor}/root{}/{kind}", pins.display());
        let inode = std::fs::metadata(&pin).unwrap().ino();
        assert_eq!(ns(c, kind), format!("{kind}:[{inode}]"));
    }
}

#[test]
fn the_supervisor_is_its_own_binary_and_the_parent_of_every_container() {
    let root = Root::with_busybox();
    let manifest =
        std::fs::read_to_string(workspace().join("examples/two-containers-pod.yml")).unwrap();
    let (code, _, err) = root.run_manifest(&manifest, &["-v"]);
    assert_eq!(code, 0, "{err}");
    // -v shows each step of starting the pod with its time, the supervisor's
    // steps included.
    for step in [
        "step parse and validate the manifest: ",
        "step images, name and pod record: ",
        "step sandbox files (/etc, /dev/shm, volumes): ",
        "step pause: create container: ",
        "step pause: start container: ",
        "step hello: mount root filesystem: ",
        "step hello: create container: ",
        "step hello2: start container: ",
        "step supervisor started the pod: ",
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("no {step:?} in: {err}"));
        let ms = line.rsplit(step).next().unwrap();
        assert!(
            ms.strip_suffix(" ms")
                .and_then(|n| n.parse::<f64>().ok())
                .is_some(),
            "{line}"
        );
    }
    let uid = pod_uid(&root, "two-containers-pod");
    let supervisor = root.supervisor_pid(&uid);
    let exe = std::fs::read_link(format!("/proc/{supervisor}/exe")).unwrap();
    assert_eq!(
        exe.file_name().unwrap(),
        "podctl-supervisor",
        "{}",
        exe.display()
    );
    // The children that created the containers are gone; the containers were
    // handed to the supervisor, which reaps them.
    let mut children: Vec<i32> = children_of(supervisor).iter().map(|s| s.pid).collect();
    children.sort();
    let mut expected = vec![
        root.pid("two-containers-pod", "pause"),
        root.pid("two-containers-pod", "hello"),
        root.pid("two-containers-pod", "hello2"),
    ];
    expected.sort();
    assert_eq!(children, expected, "the supervisor's children");
    // The pod's mounts live in the supervisor's own mount namespace, not in
    // the host's table, which every new container would otherwise copy.
    assert_ne!(ns(supervisor, "mnt"), ns(std::process::id() as i32, "mnt"));
    // Only the pinned network namespace is there (see `namespaces`).
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let pod_mounts: Vec<&str> = host
        .lines()
        .filter(|l| l.contains(&uid) && !l.contains(" - nsfs "))
        .collect();
    assert!(
        pod_mounts.is_empty(),
        "pod mounts in the host's table: {pod_mounts:?}"
    );
    let mut pinned: Vec<&str> = host
        .lines()
        .filter(|l| l.contains(&uid))
        .filter_map(|l| l.split_whitespace().nth(3))
        .map(|ns| ns.split(':').next().unwrap())
        .collect();
    pinned.sort();
    assert_eq!(
        pinned,
        ["net"],
        "only the pod's network namespace stays pinned in the host's table: {host}"
    );
    let own = std::fs::read_to_string(format!("/proc/{supervisor}/mountinfo")).unwrap();
    let pod_dir = root.path().join("pods").join(&uid);
    for target in [
        "shm",
        "_sandbox/rootfs",
        "containers/hello/rootfs",
        "containers/hello2/rootfs",
    ] {
        let target = pod_dir.join(target);
        assert!(
            own.lines()
                .any(|l| l.split(' ').nth(4) == Some(target.to_str().unwrap())),
            "{} is not mounted in the supervisor's namespace: {own}",
            target.display()
        );
    }
    // It reads their exit codes: a killed container is seen as killed.
    let hello = root.pid("two-containers-pod", "hello");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hello),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed = wait_for(Duration::from_secs(10), || {
        let s = root.container_status("two-containers-pod", "hello");
        [&s["state"], &s["lastState"]]
            .into_iter()
            .find(|state| !state["terminated"].is_null())
            .map(|state| state["terminated"].clone())
    })
    .expect("hello is seen to end");
    assert_eq!(killed["exitCode"], 137, "{killed}");
    let mut pids = expected;
    pids.push(supervisor);
    let (code, _, err) =
        root.podctl(&["delete", "pod", "two-containers-pod", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    // No mount of the pod is left in any namespace.
    assert_gone(&root, &uid, &pids);
}

#[test]
fn pod_mounts_do_not_propagate_back_to_a_host_with_shared_mounts() {
    // systemd makes / shared; this host's / is private. Run podctl from a
    // mount namespace whose mounts are shared, as on such a host, and look
    // at that namespace's table once the pod runs.
    let root = Root::with_busybox();
    let script = format!(
        "{} run -d -f {} >/dev/null && cat /proc/self/mountinfo",
        root.shell_prefix(),
        workspace()
            .join("examples/two-containers-pod.yml")
            .display()
    );
    let (code, table, err) = output(
        Command::new("unshare")
            .args(["--mount", "--propagation", "shared", "sh", "-c"])
            .arg(&script),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains(" shared:"),
        "the namespace is shared: {table}"
    );
    let uid = pod_uid(&root, "two-containers-pod");
    // Only the pinned network namespace, which podctl makes there on purpose.
    let propagated: Vec<&str> = table
        .lines()
        .filter(|l| l.contains(&uid) && !l.contains(" - nsfs "))
        .collect();
    assert!(
        propagated.is_empty(),
        "the pod's mounts propagated to the host: {propagated:?}"
    );
    let (code, _, err) =
        root.podctl(&["delete", "pod", "two-containers-pod", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    assert_gone(&root, &uid, &[]);
}

#[test]
fn a_shared_pid_namespace_has_pause_as_pid_1_and_it_reaps_orphans() {
    let root = Root::with_busybox();
    root.start(&example("two-containers-shared-pid.yml"), &[]);
    let pause = root.pid("two-containers-pod", "pause");
    let status = std::fs::read_to_string(format!("/proc/{pause}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
        "pause is PID 1: {status}"
    );
    for name in ["hello", "hello2"] {
        let pid = root.pid("two-containers-pod", name);
        assert_eq!(
            ns(pid, "pid"),
            ns(pause, "pid"),
            "{name} is in pause's pid namespace"
        );
        for kind in ["net", "ipc", "uts"] {
            assert_eq!(ns(pid, kind), ns(pause, kind));
        }
        assert_ne!(ns(pid, "mnt"), ns(pause, "mnt"), "only mnt differs");
    }
    // An orphan made in a container is re-parented to pause, which reaps it.
    let hello = root.pid("two-containers-pod", "hello");
    let status = tests::nsenter(hello)
        .args(["-p", "--", "/bin/sh", "-c", "(sleep 0.5 &) ; exit 0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let adopted = wait_for(Duration::from_secs(5), || {
        tests::children_of(pause)
            .iter()
            .any(|c| c.state != 'Z')
            .then_some(())
    });
    assert!(adopted.is_some(), "the orphan was re-parented to pause");
    let inits: Vec<i32> = ["hello", "hello2"]
        .iter()
        .map(|c| root.pid("two-containers-pod", c))
        .collect();
    let reaped = wait_for(Duration::from_secs(5), || {
        tests::children_of(pause)
            .iter()
            .all(|c| inits.contains(&c.pid))
            .then_some(())
    });
    assert!(
        reaped.is_some(),
        "pause left a zombie: {:?}",
        tests::children_of(pause)
    );
}

#[test]
fn containers_talk_over_localhost_and_share_hostname_and_hosts_file() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  hostAliases: [{ip: 10.9.8.7, hostnames: [db.local]}]
  containers:
  - name: server
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo served-over-localhost > /www/index.html && httpd -f -p 8080 -h /www']
  - name: client
    image: busybox
    command: [sh, -c, 'for i in $(seq 100); do wget -qO- http://127.0.0.1:8080/ 2>/dev/null && break; sleep 0.1; done; hostname; cat /etc/hostname; cat /etc/hosts; sleep 3600']
"#;
    root.start(manifest, &[]);
    let logs = root.wait_logs("talk", "client", "# Entries added by HostAliases.");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines[0], "served-over-localhost", "{logs}");
    assert_eq!(lines[1], "talk", "the pod's hostname");
    assert_eq!(lines[2], "talk");
    let hosts = lines[3..].join("\n");
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), "{hosts}");
    assert!(
        hosts.contains("\ttalk\n\n# Entries added by HostAliases.\n10.9.8.7\tdb.local"),
        "{hosts}"
    );
    let server = root.pid("talk", "server");
    let (_, uts, _) = output(tests::nsenter(server).args(["-u", "hostname"]));
    assert_eq!(uts.trim(), "talk");
}

#[test]
fn ipc_objects_and_dev_shm_cross_containers() {
    let root = Root::with_busybox();
    // POSIX shm through the example: the producer's file in /dev/shm is read by the consumer.
    let (code, _, err) = root.run_manifest(&example("ipc-producer-consumer.yml"), &[]);
    assert_eq!(code, 0, "{err}");
    root.wait_phase("ipc-demo", "Succeeded");
    assert_eq!(root.logs("ipc-demo", "consumer"), "message from producer\n");

    // SysV: a message queue made in one container's IPC namespace shows in the other's.
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: sysv}
spec:
  containers:
  - {name: maker, image: busybox, command: [sleep, "3600"]}
  - name: seer
    image: busybox
    command: [sh, -c, 'for i in $(seq 200); do grep -q 4242 /proc/sysvipc/msg && echo seen-queue && break; sleep 0.05; done; sleep 3600']
"#;
    root.start(manifest, &[]);
    let maker = root.pid("sysv", "maker");
    let (code, _, err) = output(tests::nsenter(maker).args([
        "-i",
        "--",
        "perl",
        "-e",
        "defined msgget(4242, 01666) or die $!",
    ]));
    assert_eq!(code, 0, "msgget in the pod's IPC namespace: {err}");
    root.wait_logs("sysv", "seer", "seen-queue");
    let (_, host_queues, _) = output(Command::new("cat").arg("/proc/sysvipc/msg"));
    assert!(
        !host_queues.contains(" 4242 "),
        "the queue is not the host's"
    );
    let dev_shm = std::fs::read_to_string(format!("/proc/{maker}/mountinfo")).unwrap();
    let line = dev_shm
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/dev/shm"))
        .expect("/dev/shm mounted");
    assert!(
        line.contains("nosuid")
            && line.contains("nodev")
            && line.contains("noexec")
            && line.contains("tmpfs"),
        "{line}"
    );
    assert!(line.contains("size=65536k"), "{line}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(format!("/proc/{maker}/root/dev/shm"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1777);
}

#[test]
fn empty_dir_is_shared_and_survives_a_container_restart() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: vol}
spec:
  restartPolicy: OnFailure
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, 'echo run >> /data/runs; [ $(wc -l < /data/runs) -ge 2 ] && exec sleep 3600; exit 1']
    volumeMounts: [{name: data, mountPath: /data}]
  - name: reader
    image: busybox
    command: [sh, -c, 'while [ $(cat /shared/runs 2>/dev/null | wc -l) -lt 2 ]; do sleep 0.05; done; echo reader-saw-2-runs; sleep 3600']
    volumeMounts: [{name: data, mountPath: /shared, readOnly: true}]
"#;
    root.start(manifest, &["--backoff", "200ms,1s"]);
    let pause = root.pid("vol", "pause");
    root.wait_logs("vol", "reader", "reader-saw-2-runs");
    let writer = root.container_status("vol", "writer");
    assert_eq!(writer["restartCount"], 1, "{writer}");
    assert_eq!(writer["lastState"]["terminated"]["exitCode"], 1);
    assert!(writer["state"]["running"].is_object(), "{writer}");
    assert_eq!(
        root.pid("vol", "pause"),
        pause,
        "a container restart keeps the sandbox"
    );
    // The read-only mount refuses writes.
    let reader = root.pid("vol", "reader");
    let (code, _, _) =
        output(tests::nsenter(reader).args(["-m", "--", "/bin/sh", "-c", "echo x > /shared/new"]));
    assert_ne!(code, 0, "readOnly volume mount must refuse writes");
    let uid = pod_uid(&root, "vol");
    let volume = root.path().join("pods").join(&uid).join("volumes/data");
    assert!(volume.join("runs").exists());
    root.podctl(&["delete", "pod", "vol", "--grace-period", "0"]);
    assert!(!volume.exists(), "the emptyDir is removed with the pod");
}

#[test]
fn limits_land_in_cgroups_and_a_memory_hog_is_oom_killed() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  restartPolicy: Never
  containers:
  - name: steady
    image: busybox
    command: [sleep, "3600"]
    resources: {requests: {cpu: 250m, memory: 32Mi}, limits: {cpu: 500m, memory: 64Mi}}
  - name: hog
    image: busybox
    command: [sh, -c, 'sleep 0.5; x=$(yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 200000000); echo survived']
    resources: {limits: {cpu: "1", memory: 32Mi}}
"#;
    root.start(manifest, &[]);
    let steady = root.pid("limited", "steady");
    let cgroup = std::fs::read_to_string(format!("/proc/{steady}/cgroup")).unwrap();
    let uid = pod_uid(&root, "limited");
    assert!(
        cgroup.contains(&format!("/podctl/burstable/pod{uid}/steady")),
        "{cgroup}"
    );
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let dir = format!("/sys/fs/cgroup/podctl/burstable/pod{uid}/steady");
        assert_eq!(
            std::fs::read_to_string(format!("{dir}/cpu.max"))
                .unwrap()
                .trim(),
            "50000 100000"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{dir}/memory.max"))
                .unwrap()
                .trim(),
            "67108864"
        );
    } else {
        let read = |ctrl: &str, file: &str| {
            std::fs::read_to_string(format!(
                "/sys/fs/cgroup/{ctrl}/podctl/burstable/pod{uid}/steady/{file}"
            ))
            .unwrap()
            .trim()
            .to_string()
        };
        assert_eq!(read("cpu", "cpu.shares"), "256");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("pids", "pids.max"), "4096");
    }
    let hog = wait_for(Duration::from_secs(30), || {
        let s = root.container_status("limited", "hog");
        s["state"]["terminated"].is_object().then_some(s)
    })
    .expect("the hog ends");
    assert_eq!(hog["state"]["terminated"]["reason"], "OOMKilled", "{hog}");
    assert_eq!(hog["state"]["terminated"]["exitCode"], 137);
    assert!(!root.logs("limited", "hog").contains("survived"));
}

#[test]
fn safe_defaults_refuse_mount_modules_sysrq_and_hide_the_host() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: locked}
spec:
  restartPolicy: Never
  containers:
  - name: probe
    image: busybox
    securityContext: {runAsUser: 1000, runAsGroup: 2000}
    command: [sh, -c, 'id -u; id -g; ps -o pid | wc -l; cat /proc/self/status | grep CapEff']
  - name: rooted
    image: busybox
    command: [sh, -c, 'mount -t tmpfs none /mnt && echo mounted; insmod /bin/busybox 2>&1 | head -1; echo b > /proc/sysrq-trigger && echo sysrq-written; cat /proc/kcore | head -c 1 | wc -c; ls /sys/firmware | wc -l; echo end']
"#;
    root.start(manifest, &[]);
    root.wait_phase("locked", "Succeeded");
    let probe = root.logs("locked", "probe");
    let lines: Vec<&str> = probe.lines().collect();
    assert_eq!(&lines[..2], ["1000", "2000"], "{probe}");
    // The header, sh, ps and (when it is forked before ps reads /proc) wc.
    assert!(
        ["3", "4"].contains(&lines[2].trim()),
        "sees only its own processes (header, sh, ps, maybe wc): {probe}"
    );
    assert!(
        lines[3].ends_with("0000000000000000"),
        "uid 1000 has no effective capabilities: {probe}"
    );
    let rooted = root.logs("locked", "rooted");
    assert!(
        !rooted.contains("mounted"),
        "mount must be refused: {rooted}"
    );
    assert!(
        !rooted.contains("sysrq-written"),
        "/proc/sysrq-trigger is read-only: {rooted}"
    );
    assert!(
        rooted.contains("Operation not permitted"),
        "module loading refused: {rooted}"
    );
    // stdout and stderr are separate pipes: compare stdout's lines alone.
    let stdout: Vec<&str> = rooted.lines().filter(|l| !l.contains(':')).collect();
    assert_eq!(
        stdout,
        ["0", "0", "end"],
        "/proc/kcore and /sys/firmware are masked: {rooted}"
    );
}

#[test]
fn errors_name_the_field_and_leave_nothing_behind() {
    let root = Root::with_busybox();
    let (code, _, err) = root.run_manifest(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: a, image: busybox}\n  - {name: a}\n",
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.containers[1].name: \"a\" is used by another container")
            && err.contains("spec.containers[1].image: required"),
        "{err}"
    );
    let (code, _, err) = root.run_manifest("apiVersion: v1\nkind: Pod\nmetadata: {name: noimg}\nspec:\n  containers:\n  - {name: a, image: nosuch, imagePullPolicy: Never}\n", &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("spec.containers[0].image")
            && err.contains("is not present")
            && err.contains("podctl image import"),
        "{err}"
    );
    // Absent and pullable by its policy: pulled from Docker Hub, which this
    // test's network namespace cannot reach; the run fails and says so.
    let (code, _, err) = root.run_manifest("apiVersion: v1\nkind: Pod\nmetadata: {name: noimg}\nspec:\n  containers:\n  - {name: a, image: nosuch}\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("spec.containers[0].image (ErrImagePull")
            && err.contains("docker.io/library/nosuch:latest")
            && err.contains("podctl image import"),
        "{err}"
    );
    assert_ne!(
        root.podctl(&["get", "pod", "noimg"]).0,
        0,
        "no pod was made"
    );
    // A hostPath not allowed is refused before anything of the pod is made.
    let (code, _, err) = root.run_manifest(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: hp}\nspec:\n  volumes: [{name: h, hostPath: {path: /etc}}]\n  containers:\n  - {name: a, image: busybox, command: ['true'], volumeMounts: [{name: h, mountPath: /h}]}\n  restartPolicy: Never\n",
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("spec.volumes[0].hostPath") && err.contains("--allow-host-paths"),
        "{err}"
    );
    let pods: Vec<_> = std::fs::read_dir(root.path().join("pods"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "by-name")
        .collect();
    assert!(pods.is_empty(), "no pod folder is made: {pods:?}");
    assert!(tests::tree(&root.path().join("pods/by-name")).is_empty());
}

#[test]
fn web_and_sidecar_serve_over_localhost_and_toml_pods_run() {
    let root = Root::with_busybox();
    root.start(&example("web-and-sidecar.yml"), &[]);
    let content = root.pid("web", "content");
    let page = wait_for(Duration::from_secs(10), || {
        let (code, out, _) = output(tests::nsenter(content).args([
            "-n",
            "-m",
            "-r",
            "-w",
            "--",
            "/bin/busybox",
            "wget",
            "-qO-",
            "http://localhost:8080/",
        ]));
        (code == 0 && !out.is_empty()).then_some(out)
    })
    .expect("the sidecar reaches the web server over localhost");
    let (_, on_disk, _) = output(tests::nsenter(content).args([
        "-m",
        "-r",
        "--",
        "/bin/busybox",
        "cat",
        "/out/index.html",
    ]));
    assert!(!on_disk.is_empty());
    assert_eq!(
        page.lines().count(),
        1,
        "served the date the sidecar wrote: {page}"
    );
    let web = root.pid("web", "web");
    assert_eq!(ns(web, "uts"), ns(content, "uts"));

    let (code, out, err) = root.podctl(&[
        "run",
        "-d",
        "-f",
        workspace().join("examples/pod.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "two-containers\n");
    assert_eq!(
        root.wait_logs("two-containers", "hello", "first"),
        "first container\n"
    );
}

#[test]
fn security_context_and_host_namespaces_are_honoured() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: sec}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: caps
    image: busybox
    securityContext: {capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
    command: [sh, -c, 'grep -E "CapEff|NoNewPrivs" /proc/self/status; touch /file 2>&1; touch /tmp/file && echo tmp-writable; sleep 3600']
  - name: nonroot
    image: busybox
    securityContext: {runAsNonRoot: true}
    command: [id]
"#;
    root.start(manifest, &["--allow-host-namespaces"]);
    let logs = root.wait_logs("sec", "caps", "NoNewPrivs");
    assert!(
        logs.contains("CapEff:\t0000000000000400"),
        "only NET_BIND_SERVICE: {logs}"
    );
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
    assert!(logs.contains("Read-only file system"), "{logs}");
    let caps = root.pid("sec", "caps");
    assert_eq!(
        ns(caps, "net"),
        root.netns.id(),
        "hostNetwork: the host's network namespace"
    );
    // runAsNonRoot with a root image user: the kubelet's CreateContainerConfigError,
    // waiting (not a run that failed), named.
    let status = wait_for(Duration::from_secs(10), || {
        let s = root.container_status("sec", "nonroot");
        (s["state"]["waiting"]["reason"] == "CreateContainerConfigError").then_some(s)
    })
    .expect("nonroot waits with CreateContainerConfigError");
    let message = status["state"]["waiting"]["message"].as_str().unwrap();
    assert!(message.contains("runAsNonRoot"), "{message}");
    assert_eq!(status["restartCount"], 0);
}

#[test]
fn a_pod_whose_sandbox_fails_halfway_leaves_nothing_behind() {
    let root = Root::with_busybox();
    // A pause image without /pause: the sandbox's folder, /dev/shm and
    // cgroups are made, then the pause container cannot start.
    let layout = workspace().join("target/images/busybox");
    root.import_as_pause(&layout);
    let (code, _, err) = root.run_manifest(&example("two-containers-pod.yml"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pause"), "the failed step is named: {err}");
    // (Not the root's run and ns tmpfs themselves: a supervisor of another
    // test's root that started meanwhile keeps a copy of them in its mount
    // namespace, empty, until it ends.)
    for under in ["pods", "images"] {
        let mounts = mounts_anywhere(root.path().join(under).to_str().unwrap());
        assert!(mounts.is_empty(), "a mount is left: {mounts:?}");
    }
    let runtime: Vec<String> = mounts_anywhere(root.path().to_str().unwrap())
        .into_iter()
        .filter(|m| m.contains("/run/") || m.contains("/ns/"))
        .collect();
    assert!(runtime.is_empty(), "a mount is left: {runtime:?}");
    let pods: Vec<_> = std::fs::read_dir(root.path().join("pods"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(pods, ["by-name"], "no pod folder is left");
    assert_eq!(
        std::fs::read_dir(root.path().join("pods/by-name"))
            .unwrap()
            .count(),
        0,
        "the name is free again"
    );
    let run: Vec<_> = std::fs::read_dir(root.path().join("run"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(run.is_empty(), "libcontainer state is left: {run:?}");
    let pins: Vec<_> = std::fs::read_dir(root.path().join("ns"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(pins.is_empty(), "pinned namespaces are left: {pins:?}");
    let (code, table, _) = root.podctl(&["get", "pods"]);
    assert_eq!((code, table.as_str()), (0, ""));
    let leftovers = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ps -eo args | grep -c '[s]upervise.*{}' || true",
            root.path().display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&leftovers.stdout).trim(),
        "0",
        "no supervisor is left"
    );
}

#[test]
fn host_ipc_and_host_pid_use_the_hosts_namespaces() {
    let root = Root::with_busybox();
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: hostns}\nspec:\n  hostIPC: true\n  hostPID: true\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n";
    root.start(manifest, &["--allow-host-namespaces"]);
    let host = std::process::id() as i32;
    let c = root.pid("hostns", "c");
    let pause = root.pid("hostns", "pause");
    for kind in ["ipc", "pid"] {
        assert_eq!(ns(c, kind), ns(host, kind), "{kind} is the host's");
    }
    assert_eq!(
        ns(c, "net"),
        ns(pause, "net"),
        "the network stays the pod's"
    );
    assert_ne!(ns(c, "net"), ns(host, "net"));
}

#[test]
fn memory_empty_dirs_sub_paths_and_the_sandbox_settings() {
    let root = Root::with_busybox();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: vols}
spec:
  volumes:
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: disk}
  containers:
  - name: a
    image: busybox
    command: [sh, -c, 'echo in-sub > /sub/file; grep " /mem " /proc/mounts; sleep 3600']
    volumeMounts: [{name: mem, mountPath: /mem}, {name: disk, mountPath: /sub, subPath: nested/dir}]
"#;
    root.start(manifest, &[]);
    let logs = root.wait_logs("vols", "a", "/mem");
    assert!(
        logs.contains("tmpfs /mem tmpfs") && logs.contains("size=8192k"),
        "{logs}"
    );
    let uid = root.pod("vols")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let file = root
        .path()
        .join("pods")
        .join(&uid)
        .join("volumes/disk/nested/dir/file");
    wait_for(Duration::from_secs(5), || file.exists().then_some(()))
        .expect("subPath lands in the volume's sub folder");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "in-sub\n");
    // pause: read-only root, 2 CPU shares, and the supervisor's own oom score untouched.
    let pause = root.pid("vols", "pause");
    let mounts = std::fs::read_to_string(format!("/proc/{pause}/mounts")).unwrap();
    let root_line = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/"))
        .unwrap();
    assert!(
        root_line
            .split_whitespace()
            .nth(3)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{root_line}"
    );
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let shares = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/cpu/podctl/besteffort/pod{uid}/_sandbox/cpu.shares"
        ))
        .unwrap();
        assert_eq!(shares.trim(), "2");
    }
    let supervisor = root.supervisor_pid(&uid);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{supervisor}/oom_score_adj"))
            .unwrap()
            .trim(),
        std::fs::read_to_string("/proc/self/oom_score_adj")
            .unwrap()
            .trim()
    );
}

/// A file system of the test's own, mounted from a loop device, unmounted
/// (lazily: a pod's mounts may still hold it for a moment) when dropped.
struct LoopMount {
    dir: tempfile::TempDir,
}

impl LoopMount {
    /// An ext4 without a journal (as on the host this was measured on), in
    /// 1 kB blocks and 8 kB-block groups, so that its 64 MB hold 8 groups.
    fn ext4_without_journal() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("podctl-ext4-")
            .tempdir()
            .unwrap();
        let image = dir.path().join("fs.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let (code, _, err) = output(
            Command::new("mkfs.ext4")
                .args([
                    "-q",
                    "-F",
                    "-O",
                    "^has_journal",
                    "-b",
                    "1024",
                    "-g",
                    "8192",
                    "-N",
                    "4096",
                ])
                .arg(&image),
        );
        assert_eq!(code, 0, "mkfs.ext4: {err}");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let (code, _, err) = output(
            Command::new("mount")
                .arg("-o")
                .arg("loop")
                .arg(&image)
                .arg(&mnt),
        );
        assert_eq!(code, 0, "mount the ext4 image: {err}");
        Self { dir }
    }

    fn image(&self) -> std::path::PathBuf {
        self.dir.path().join("fs.img")
    }

    fn mnt(&self) -> std::path::PathBuf {
        self.dir.path().join("mnt")
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.mnt()).status();
    }
}

/// What a pod costs the disk its root is on, here an ext4 without a
/// journal: each pod's folder is placed as a folder at the top of the tree
/// (the pods' folder has ext4's `T` flag), in a block group of its own, not
/// packed into the group of every pod before it, where each new inode was
/// checked against every inode freed there in the last minutes; and a
/// container's writable layer is a `volatile` overlay (never synced: it
/// goes with the container, a restart gets a new one), so that its unmount
/// does not sync the whole disk.
#[test]
fn a_pod_on_an_ext4_gets_a_block_group_of_its_own_and_a_volatile_layer() {
    let disk = LoopMount::ext4_without_journal();
    let root = Root::with_busybox_in(&disk.mnt());
    root.start(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: disk}\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n",
        &[],
    );
    let pods = root.path().join("pods");
    let (code, flags, err) = output(Command::new("lsattr").arg("-d").arg(&pods));
    assert_eq!(code, 0, "lsattr: {err}");
    let flags = flags
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        flags.contains('T'),
        "the pods' folder is not marked top: {flags}"
    );
    let (code, header, err) = output(Command::new("dumpe2fs").arg("-h").arg(disk.image()));
    assert_eq!(code, 0, "dumpe2fs: {err}");
    let per_group: u64 = header
        .lines()
        .find_map(|l| l.strip_prefix("Inodes per group:"))
        .expect("inodes per group")
        .trim()
        .parse()
        .unwrap();
    use std::os::unix::fs::MetadataExt;
    let group = |path: &std::path::Path| (std::fs::metadata(path).unwrap().ino() - 1) / per_group;
    let uid = pod_uid(&root, "disk");
    assert_ne!(
        group(&pods.join(&uid)),
        group(&pods),
        "the pod's folder was packed into the group of the pods' folder"
    );
    let pid = root.pid("disk", "c");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let rootfs = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .expect("the container's root in its mountinfo");
    let (_, fs) = rootfs.split_once(" - ").unwrap();
    assert!(fs.starts_with("overlay "), "{rootfs}");
    assert!(
        // Linux 6.6 on shows it as fsync=volatile.
        fs.split(',')
            .any(|o| o == "volatile" || o == "fsync=volatile"),
        "the container's layer is not volatile: {rootfs}"
    );
    let (code, _, err) = root.podctl(&["delete", "pod", "disk", "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    assert_gone(&root, &uid, &[pid]);
}
