//! The peers measured beside podctl: crun and runc (one OCI container,
//! create + start, then delete) and podman (`kube play` of the same pod,
//! `pod rm -f -t 0`), configured to run here without systemd and without pulls.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::build::{self, Result, root};

/// Peers' Debian packages, installed by the bench when missing.
const PACKAGES: &[(&str, &str)] = &[
    ("crun", "a peer: raw OCI create/start/delete"),
    ("runc", "a peer: raw OCI create/start/delete"),
    ("podman", "a peer: podman kube play of the same pod"),
    (
        "catatonit",
        "podman's pause, and a pause to compare sizes with",
    ),
];

/// One peer's samples, in milliseconds, with what was measured.
pub struct Figures {
    pub name: String,
    /// The peer's version, as its `--version` says it.
    pub version: String,
    /// The exact commands timed, start then delete.
    pub commands: String,
    pub start: Vec<f64>,
    pub delete: Vec<f64>,
    /// CPU time the whole machine spent per start, in milliseconds (see
    /// [`busy_ms`]), when measured.
    pub cpu_per_start: Option<f64>,
}

/// CPU time every process on the machine has used so far (not idle), in
/// milliseconds: the root cgroup's usage (nanoseconds on v1's cpuacct,
/// microseconds on v2), else `/proc/stat`'s ticks. Only differences mean
/// anything; they include whatever else runs, so the bench runs on a quiet host.
pub fn busy_ms() -> f64 {
    if let Ok(ns) = std::fs::read_to_string("/sys/fs/cgroup/cpuacct/cpuacct.usage")
        && let Ok(ns) = ns.trim().parse::<f64>()
    {
        return ns / 1e6;
    }
    if let Ok(stat) = std::fs::read_to_string("/sys/fs/cgroup/cpu.stat")
        && let Some(us) = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return us / 1e3;
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: f64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .enumerate()
        // user nice system (idle iowait) irq softirq steal
        .filter(|(i, _)| ![3, 4].contains(i) && *i < 8)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum();
    ticks * 10.0
}

/// The first line `program --version` prints.
pub fn version(program: &str) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{program}: version unknown"))
}

/// crun refuses "hybrid" cgroups while hugetlb sits on the cgroup2 mount:
/// give hugetlb its own v1 hierarchy for the bench, and put it back after.
struct HugetlbV1 {
    mounted: Option<PathBuf>,
}

impl HugetlbV1 {
    fn apply() -> Self {
        let controllers = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .unwrap_or_default();
        if !controllers.split_whitespace().any(|c| c == "hugetlb") {
            return Self { mounted: None };
        }
        let dir = PathBuf::from("/sys/fs/cgroup/hugetlb");
        let _ = std::fs::create_dir_all(&dir);
        let ok = Command::new("mount")
            .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        eprintln!(
            "bench: hugetlb moved to its own v1 hierarchy for crun: {}",
            if ok { "done" } else { "failed" }
        );
        Self {
            mounted: ok.then_some(dir),
        }
    }
}

impl Drop for HugetlbV1 {
    fn drop(&mut self) {
        if let Some(dir) = self.mounted.take() {
            let _ = Command::new("umount").arg(&dir).status();
            let _ = std::fs::remove_dir(&dir);
            eprintln!("bench: hugetlb put back on the cgroup2 mount");
        }
    }
}

fn timed(command: &mut Command) -> Result<f64> {
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("run {command:?}: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok(elapsed)
}

/// Measure crun, runc and podman `runs` times each (after a warm-up).
pub fn measure(work: &Path, runs: usize) -> Result<Vec<Figures>> {
    build::ensure_packages(PACKAGES)?;
    let _hugetlb = HugetlbV1::apply();
    let bundle = work.join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    std::fs::create_dir_all(&bundle).map_err(|e| format!("create {}: {e}", bundle.display()))?;
    build::run(
        Command::new(root().join("target/release/rootfs-tools"))
            .args(["busybox", "--out"])
            .arg(work.join("layout"))
            .arg("--rootfs")
            .arg(bundle.join("rootfs"))
            .arg("--cache")
            .arg(root().join("target/cache")),
    )?;
    build::run(
        Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && crun spec", bundle.display())),
    )?;
    let config = bundle.join("config.json");
    let spec =
        std::fs::read_to_string(&config).map_err(|e| format!("read {}: {e}", config.display()))?;
    // `crun spec` runs `sh` on a terminal: run `sleep 3600` without one.
    let args_at = spec.find("\"args\"").ok_or("crun spec has no args")?;
    let sh_at = args_at
        + spec[args_at..]
            .find("\"sh\"")
            .ok_or("crun spec does not run sh")?;
    let spec = format!(
        "{}\"sleep\", \"3600\"{}",
        &spec[..sh_at],
        &spec[sh_at + 4..]
    )
    .replace("\"terminal\": true", "\"terminal\": false");
    std::fs::write(&config, spec).map_err(|e| format!("write {}: {e}", config.display()))?;

    let mut out = Vec::new();
    for runtime in ["crun", "runc"] {
        let state = work.join(format!("{runtime}-state"));
        let mut figures = Figures {
            name: format!("{runtime} create+start / delete (one container)"),
            version: version(runtime),
            commands: format!(
                "`{runtime} --root STATE create -b BUNDLE ID && {runtime} --root STATE start ID`, then \
                 `{runtime} --root STATE delete -f ID` (BUNDLE: the busybox rootfs with `crun spec`'s config \
                 running `sleep 3600`)"
            ),
            start: vec![],
            delete: vec![],
            cpu_per_start: None,
        };
        let mut cpu = 0.0;
        for run in 0..=runs {
            let id = format!("bench-{run}");
            let busy = busy_ms();
            // The two commands one after the other, as a user types them
            // (no shell to chain them in the time).
            let start = timed(
                Command::new(runtime)
                    .arg("--root")
                    .arg(&state)
                    .args(["create", "-b"])
                    .arg(&bundle)
                    .arg(&id),
            )? + timed(
                Command::new(runtime)
                    .arg("--root")
                    .arg(&state)
                    .args(["start", &id]),
            )?;
            let busy = busy_ms() - busy;
            let delete = timed(
                Command::new(runtime)
                    .arg("--root")
                    .arg(&state)
                    .args(["delete", "-f", &id]),
            )?;
            if run > 0 {
                figures.start.push(start);
                figures.delete.push(delete);
                cpu += busy;
            }
        }
        figures.cpu_per_start = Some(cpu / runs as f64);
        out.push(figures);
        if runtime == "crun" {
            out.push(side_by_side(runtime, &state, &bundle, runs)?);
        }
    }

    let podman_dir = work.join("podman");
    let _ = std::fs::create_dir_all(&podman_dir);
    let conf = work.join("containers.conf");
    let storage = work.join("storage.conf");
    std::fs::write(&conf, format!(
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{}/events.log\"\n",
        podman_dir.display()
    )).map_err(|e| e.to_string())?;
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
            podman_dir.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.args(args)
            .env("CONTAINERS_CONF", &conf)
            .env("CONTAINERS_STORAGE_CONF", &storage);
        c
    };
    let layout = root().join("target/images/busybox");
    build::run(&mut podman(&[
        "pull",
        "-q",
        &format!("oci:{}:latest", layout.display()),
    ]))?;
    let id = String::from_utf8_lossy(
        &podman(&["images", "-q"])
            .output()
            .map_err(|e| e.to_string())?
            .stdout,
    )
    .lines()
    .next()
    .unwrap_or_default()
    .to_string();
    build::run(&mut podman(&["tag", &id, "localhost/busybox:latest"]))?;
    // podman kube play takes Pods, not Jobs: the example's pod template as a Pod.
    let manifest = work.join("pod.yml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two-containers-pod\nspec:\n  restartPolicy: OnFailure\n  containers:\n    - name: hello\n      image: localhost/busybox:latest\n      command: ['sh', '-c', 'echo \"first container\" && sleep 3600']\n    - name: hello2\n      image: localhost/busybox:latest\n      command: ['sh', '-c', 'echo \"second container\" && sleep 3600']\n").map_err(|e| e.to_string())?;
    let mut figures = Figures {
        name: "podman kube play / pod rm -f -t 0 (the pod)".into(),
        version: version("podman"),
        commands: "`podman kube play pod.yml` (the example's pod template as a Pod, image imported from the \
                   same busybox layout), then `podman pod rm -f -t 0 two-containers-pod`; `CONTAINERS_CONF` \
                   sets the cgroupfs manager, file events and nofile/nproc ulimits of 20000/32768"
            .into(),
        start: vec![],
        delete: vec![],
        cpu_per_start: None,
    };
    for run in 0..=runs {
        let start = timed(&mut podman(&[
            "kube",
            "play",
            manifest.to_str().expect("utf-8 path"),
        ]))?;
        let delete = timed(&mut podman(&[
            "pod",
            "rm",
            "-f",
            "-t",
            "0",
            "two-containers-pod",
        ]))?;
        if run > 0 {
            figures.start.push(start);
            figures.delete.push(delete);
        }
    }
    out.push(figures);
    Ok(out)
}

/// `runtime` creating and starting three containers at once, each its
/// `create && start` in a thread of its own (a pod's count: pause and two
/// containers, though without shared namespaces), timed until the last
/// returns: what three containers cost on this machine's cores.
fn side_by_side(runtime: &str, state: &Path, bundle: &Path, runs: usize) -> Result<Figures> {
    let mut figures = Figures {
        name: format!("{runtime}, three create+start side by side / delete (a pod's count)"),
        version: version(runtime),
        commands: format!(
            "three `{runtime} --root STATE create -b BUNDLE ID && {runtime} --root STATE start ID` at once, \
             timed until the last returns, then `{runtime} --root STATE delete -f ID` of the three one after another"
        ),
        start: vec![],
        delete: vec![],
        cpu_per_start: None,
    };
    let mut cpu = 0.0;
    for run in 0..=runs {
        let ids: Vec<String> = (0..3).map(|i| format!("bench-three-{run}-{i}")).collect();
        let busy = busy_ms();
        let started = Instant::now();
        let outcomes: Vec<Result<f64>> = std::thread::scope(|scope| {
            let threads: Vec<_> = ids
                .iter()
                .map(|id| {
                    scope.spawn(move || -> Result<f64> {
                        Ok(timed(
                            Command::new(runtime)
                                .arg("--root")
                                .arg(state)
                                .args(["create", "-b"])
                                .arg(bundle)
                                .arg(id),
                        )? + timed(
                            Command::new(runtime)
                                .arg("--root")
                                .arg(state)
                                .args(["start", id]),
                        )?)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err("a timing thread panicked".into()))
                })
                .collect()
        });
        let start = started.elapsed().as_secs_f64() * 1000.0;
        let busy = busy_ms() - busy;
        let deleted = Instant::now();
        for id in &ids {
            let _ = Command::new(runtime)
                .arg("--root")
                .arg(state)
                .args(["delete", "-f", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let delete = deleted.elapsed().as_secs_f64() * 1000.0;
        for outcome in outcomes {
            outcome?;
        }
        if run > 0 {
            figures.start.push(start);
            figures.delete.push(delete);
            cpu += busy;
        }
    }
    figures.cpu_per_start = Some(cpu / runs as f64);
    Ok(figures)
}
