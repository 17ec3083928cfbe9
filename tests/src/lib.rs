//! Helpers for the end-to-end tests: where the built binaries are, processes
//! that are killed when a test ends (also when it fails), and `/proc` readers.

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Folder with the built binaries: `PODCTL_TARGET_DIR` (set by `cargo xtask e2e`)
/// or the workspace's `target/debug`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("PODCTL_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"))
}

/// A built binary of the workspace; panics with the fix when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo xtask e2e`",
        path.display()
    );
    path
}

/// The workspace's top folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests lives in the workspace")
        .to_path_buf()
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Guard(pub Child);

impl Guard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pid killed with SIGKILL when dropped (for processes that are not our children).
pub struct PidGuard(pub i32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Poll `check` every 20 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Read `/proc/<pid>/stat`; `None` once the process is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        cpu_ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
    })
}

/// The mounts, in any process's mount namespace, whose line in
/// `/proc/<pid>/mountinfo` contains `needle`, as `pid: line`. Pods keep their
/// mounts in their supervisor's namespace, so the host's own table alone
/// cannot show a leak.
pub fn mounts_anywhere(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pid in std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
    {
        // One look per mount namespace.
        let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/mnt")) else {
            continue;
        };
        if !seen.insert(ns) {
            continue;
        }
        let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        found.extend(
            text.lines()
                .filter(|l| l.contains(needle))
                .map(|l| format!("{pid}: {l}")),
        );
    }
    found
}

/// `nsenter -t PID`: add the namespace flags and the command.
pub fn nsenter(pid: i32) -> Command {
    let mut command = Command::new("nsenter");
    command.arg("-t").arg(pid.to_string());
    command
}

/// How many instructions the first seccomp filter of process `pid` has (the
/// kernel's own copy, read with `PTRACE_SECCOMP_GET_FILTER` while the
/// process is held in a ptrace stop for a moment); `None` without a filter.
pub fn seccomp_filter_length(pid: i32) -> Option<i64> {
    use nix::libc;
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let target = nix::unistd::Pid::from_raw(pid);
    nix::sys::ptrace::seize(target, nix::sys::ptrace::Options::empty())
        .unwrap_or_else(|e| panic!("ptrace seize {pid}: {e}"));
    nix::sys::ptrace::interrupt(target).unwrap_or_else(|e| panic!("ptrace interrupt {pid}: {e}"));
    waitpid(target, Some(WaitPidFlag::__WALL)).unwrap_or_else(|e| panic!("wait for {pid}: {e}"));
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    // SAFETY: with a null buffer the request only returns the filter's
    // length; `pid` is our tracee, held in a ptrace stop.
    let length = unsafe {
        libc::ptrace(
            PTRACE_SECCOMP_GET_FILTER,
            pid,
            0usize,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    let error = std::io::Error::last_os_error();
    nix::sys::ptrace::detach(target, None).unwrap_or_else(|e| panic!("ptrace detach {pid}: {e}"));
    if length < 0 {
        // ENOENT: no filter at index 0.
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ENOENT),
            "read the filter of {pid}: {error}"
        );
        return None;
    }
    Some(length)
}

/// Every process on the host whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<ProcStat> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(proc_stat)
                .filter(|s| s.ppid == ppid)
                .collect()
        })
        .unwrap_or_default()
}

/// The pid of the first child of `parent` (e.g. the process `unshare --fork` started).
pub fn first_child(parent: i32) -> Option<i32> {
    wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Run a command to completion, returning (exit code, stdout, stderr).
pub fn output(command: &mut Command) -> (i32, String, String) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tar entry for hand-made layers, including hostile ones the `tar`
/// crate's builder would refuse to write (`..`, absolute paths).
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    /// A file with mode 0755.
    Executable(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

/// An uncompressed tar holding `entries`, names written byte for byte.
pub fn raw_tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_old();
        let (name, data, kind, link): (&str, &[u8], tar::EntryType, Option<&str>) = match entry {
            Entry::Dir(name) => (name, b"", tar::EntryType::Directory, None),
            Entry::File(name, data) | Entry::Executable(name, data) => {
                (name, data, tar::EntryType::Regular, None)
            }
            Entry::Symlink(name, target) => (name, b"", tar::EntryType::Symlink, Some(target)),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_mode(if matches!(entry, Entry::Dir(_) | Entry::Executable(..)) {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Write an OCI image layout at `dir` with one image of gzip layers made from
/// the uncompressed `layers` (bottom first), named by `ref_name`; returns
/// (manifest digest, diff ids).
pub fn write_layout(dir: &Path, ref_name: &str, layers: &[Vec<u8>]) -> (String, Vec<String>) {
    write_layout_with(dir, ref_name, layers, serde_json::json!({}))
}

/// [`write_layout`] with these fields (`User`, `Env`, ...) over the image
/// config's run defaults.
pub fn write_layout_with(
    dir: &Path,
    ref_name: &str,
    layers: &[Vec<u8>],
    run: serde_json::Value,
) -> (String, Vec<String>) {
    use std::io::Write;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        (digest, bytes.len())
    };
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(layer).unwrap();
        let (digest, size) = put(&gz.finish().unwrap());
        descriptors.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}));
        diff_ids.push(sha256(layer));
    }
    let mut defaults =
        serde_json::json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]});
    for (field, value) in run.as_object().into_iter().flatten() {
        defaults[field] = value.clone();
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": defaults,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": descriptors,
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
                        "annotations": {"org.opencontainers.image.ref.name": ref_name}}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    (manifest_digest, diff_ids)
}

/// A network namespace of the test's own, held open by a sleeping process
/// (killed when dropped), with `lo` up. Pod networks made in it (bridge,
/// veths, iptables rules) never touch the host's.
pub struct NetNs {
    holder: Guard,
}

impl NetNs {
    pub fn new() -> Self {
        let holder = Guard(
            Command::new("unshare")
                .args(["--net", "--", "sleep", "86400"])
                .spawn()
                .expect("unshare"),
        );
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let pid = holder.pid();
        wait_for(Duration::from_secs(5), || {
            let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
            (link != own).then_some(())
        })
        .expect("a network namespace of its own");
        let netns = Self { holder };
        let (code, _, err) = output(netns.enter().args(["ip", "link", "set", "lo", "up"]));
        assert_eq!(code, 0, "lo up: {err}");
        netns
    }

    /// The namespace's file, `/proc/<holder>/ns/net`.
    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.pid())
    }

    /// Its id as `/proc/<pid>/ns/net` links show it (`net:[...]`).
    pub fn id(&self) -> String {
        ns(self.holder.pid(), "net")
    }

    /// `nsenter --net=<this namespace>`: add the command.
    pub fn enter(&self) -> Command {
        let mut command = Command::new("nsenter");
        command.arg(format!("--net={}", self.path()));
        command
    }
}

impl Default for NetNs {
    fn default() -> Self {
        Self::new()
    }
}

/// A throwaway podctl root, removed (after unmounting anything below it) when
/// dropped, whose podctl runs in a network namespace of the test's own.
pub struct Root {
    pub dir: tempfile::TempDir,
    pub netns: NetNs,
}

impl Root {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("podctl-test-")
                .tempdir()
                .unwrap(),
            netns: NetNs::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `podctl --root <this root>` in the root's network namespace: add
    /// arguments. Pods get the built-in network: the CNI config folder is an
    /// empty one of the root's (`/etc/cni/net.d` may hold another runtime's).
    pub fn command(&self) -> Command {
        let conf = self.path().join("cni-conf");
        std::fs::create_dir_all(&conf).unwrap();
        let mut command = self.netns.enter();
        command
            .arg(bin("podctl"))
            .arg("--root")
            .arg(self.path())
            .env("PODCTL_CNI_CONF_DIR", conf);
        command
    }

    /// The same as a shell command line's start, for `script -c` and `sh -c`.
    pub fn shell_prefix(&self) -> String {
        let conf = self.path().join("cni-conf");
        std::fs::create_dir_all(&conf).unwrap();
        format!(
            "PODCTL_CNI_CONF_DIR={} nsenter --net={} {} --root {}",
            conf.display(),
            self.netns.path(),
            bin("podctl").display(),
            self.path().display()
        )
    }

    /// `podctl --root <this root> ARGS...`, returning (exit code, stdout, stderr).
    pub fn podctl(&self, args: &[&str]) -> (i32, String, String) {
        output(self.command().args(args))
    }
}

impl Default for Root {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // Every namespace's pods (a by-name entry is `<namespace>_<name>`).
        let mut namespaces: Vec<String> = std::fs::read_dir(self.path().join("pods/by-name"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.split_once('_').map(|(ns, _)| ns.to_string())
            })
            .collect();
        namespaces.sort();
        namespaces.dedup();
        for namespace in namespaces {
            let _ = self.podctl(&[
                "delete",
                "pod",
                "--all",
                "--grace-period",
                "0",
                "-n",
                &namespace,
            ]);
        }
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let prefix = self.path().to_string_lossy().into_owned();
        for target in mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|t| t.starts_with(&prefix))
        {
            let _ = Command::new("umount").arg("-l").arg(target).status();
        }
    }
}

/// Every file below `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

impl Root {
    /// A root with the busybox image imported.
    pub fn with_busybox() -> Self {
        Self::import_busybox(Self::new())
    }

    /// A root in a fresh folder below `parent`, with the busybox image imported.
    pub fn with_busybox_in(parent: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("podctl-test-")
            .tempdir_in(parent)
            .unwrap();
        Self::import_busybox(Self {
            dir,
            netns: NetNs::new(),
        })
    }

    fn import_busybox(root: Self) -> Self {
        let layout = workspace().join("target/images/busybox");
        let (code, _, err) = root.podctl(&["image", "import", layout.to_str().unwrap()]);
        assert_eq!(code, 0, "import busybox (run `cargo xtask images`): {err}");
        root
    }

    /// `podctl run -d` of a manifest given as text; returns (code, stdout, stderr).
    pub fn run_manifest(&self, manifest: &str, extra: &[&str]) -> (i32, String, String) {
        let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::fs::write(file.path(), manifest).unwrap();
        let mut args = vec!["run", "-d", "-f", file.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        self.podctl(&args)
    }

    /// Import the OCI layout at `layout` as this podctl's pause image, in
    /// place of the one a pod would otherwise get.
    pub fn import_as_pause(&self, layout: &Path) {
        let (_, version, _) = output(Command::new(bin("podctl")).arg("--version"));
        let name = format!(
            "podctl/pause:{}",
            version.split_whitespace().nth(1).expect("podctl --version")
        );
        let (code, _, err) = self.import_named(layout, &name);
        assert_eq!(code, 0, "{err}");
    }

    /// `podctl image import LAYOUT --name NAME`.
    pub fn import_named(&self, layout: &Path, name: &str) -> (i32, String, String) {
        self.podctl(&[
            "image",
            "import",
            layout.to_str().expect("utf-8 path"),
            "--name",
            name,
        ])
    }

    /// Run a manifest that must start.
    pub fn start(&self, manifest: &str, extra: &[&str]) {
        let (code, out, err) = self.run_manifest(manifest, extra);
        assert_eq!(code, 0, "podctl run: {out}{err}");
    }

    /// `podctl get pod NAME -o json`.
    pub fn pod(&self, name: &str) -> serde_json::Value {
        let (code, out, err) = self.podctl(&["get", "pod", name, "-o", "json"]);
        assert_eq!(code, 0, "get pod {name}: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// The pid in the pod's `supervisor.pid`.
    pub fn supervisor_pid(&self, uid: &str) -> i32 {
        let file = self.path().join("pods").join(uid).join("supervisor.pid");
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
            .trim()
            .parse()
            .unwrap()
    }

    /// The pod's status.json (pids of pause and containers).
    pub fn runtime_status(&self, name: &str) -> serde_json::Value {
        let uid = self.pod(name)["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::read(self.path().join("pods").join(uid).join("status.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The host pid of a running container (or `pause`).
    pub fn pid(&self, pod: &str, container: &str) -> i32 {
        let status = self.runtime_status(pod);
        if container == "pause" {
            return status["sandbox"]["pause_pid"].as_i64().expect("pause runs") as i32;
        }
        status["init_containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(status["containers"].as_array().unwrap())
            .find(|c| c["name"] == container)
            .and_then(|c| c["pid"].as_i64())
            .unwrap_or_else(|| panic!("container {container} of {pod} is not running: {status}"))
            as i32
    }

    /// A container's state object from `get -o json` (`running`, `waiting` or `terminated`).
    pub fn container_status(&self, pod: &str, container: &str) -> serde_json::Value {
        let pod_json = self.pod(pod);
        let status = &pod_json["status"];
        status["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(
                status["initContainerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            )
            .find(|c| c["name"] == container)
            .cloned()
            .unwrap_or_else(|| panic!("no status for {container}: {pod_json}"))
    }

    /// `podctl logs POD -c C`.
    pub fn logs(&self, pod: &str, container: &str) -> String {
        self.podctl(&["logs", pod, "-c", container]).1
    }

    /// Wait until `podctl logs` of a container contains `needle`.
    pub fn wait_logs(&self, pod: &str, container: &str, needle: &str) -> String {
        wait_for(Duration::from_secs(20), || {
            let logs = self.logs(pod, container);
            logs.contains(needle).then_some(logs)
        })
        .unwrap_or_else(|| {
            panic!(
                "{pod}/{container} never logged {needle:?}: {:?}",
                self.logs(pod, container)
            )
        })
    }

    /// SIGKILL the supervisor of the pod `uid`; returns its pid.
    pub fn kill_supervisor(&self, uid: &str) -> i32 {
        let pid = self.supervisor_pid(uid);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        pid
    }

    /// Wait for the pod's phase.
    pub fn wait_phase(&self, pod: &str, phase: &str) -> serde_json::Value {
        wait_for(Duration::from_secs(30), || {
            let json = self.pod(pod);
            (json["status"]["phase"] == phase).then_some(json)
        })
        .unwrap_or_else(|| panic!("{pod} never reached {phase}: {}", self.pod(pod)))
    }
}

/// The namespace link of a process (`net:[4026531840]`).
pub fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("ns {kind} of {pid}: {e}"))
        .display()
        .to_string()
}

/// An example manifest of the project's own `examples/` folder.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(workspace().join("examples").join(name))
        .unwrap_or_else(|e| panic!("example {name}: {e}"))
}

/// Pids of the processes whose command line contains `needle` (e.g. a
/// podctl root's path: every supervisor of that root names it).
pub fn processes_with(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter(|&pid| pid != std::process::id() as i32)
        .collect()
}

/// The cgroup folders of the pod `uid` left in any hierarchy.
pub fn pod_cgroups(uid: &str) -> Vec<String> {
    let mut found = Vec::new();
    let needle = format!("pod{uid}");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for parent in ["podctl", "podctl/burstable", "podctl/besteffort"] {
            let dir = hierarchy.path().join(parent).join(&needle);
            if dir.exists() {
                found.push(dir.display().to_string());
            }
        }
    }
    // A pure cgroup v2 host: the hierarchy is /sys/fs/cgroup itself.
    for parent in ["podctl", "podctl/burstable", "podctl/besteffort"] {
        let dir = Path::new("/sys/fs/cgroup").join(parent).join(&needle);
        if dir.exists() {
            found.push(dir.display().to_string());
        }
    }
    found
}

/// Run `command` under GNU time with its stdout piped, read at most
/// `limit` bytes of it (then close the pipe, as `| head -c` does) and wait
/// for it; returns the bytes read and the command's peak resident memory in
/// KiB. (A child's own `ru_maxrss` would include this test process's peak,
/// which the kernel carries through `execve`; GNU time's child starts from
/// its small image.)
pub fn run_measured(command: &Command, limit: usize) -> (Vec<u8>, u64) {
    use std::io::Read;
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("GNU time (installed by cargo xtask setup)");
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = [0u8; 8192];
    while out.len() < limit {
        match stdout.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buffer[..n.min(limit - out.len())]),
        }
    }
    drop(stdout);
    child.wait().unwrap();
    let text = std::fs::read_to_string(report.path()).unwrap();
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time said {text:?}"));
    (out, kib)
}
