//! Building: Debian packages, pause, the workspace's binaries, the images and tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Debian packages the project needs at build and test time, each with why.
const PACKAGES: &[(&str, &str)] = &[
    (
        "libseccomp-dev",
        "libcontainer links libseccomp for seccomp profiles",
    ),
    ("pkg-config", "finds libseccomp at build time"),
    (
        "gcc",
        "the linker for Rust binaries and the C reference pause",
    ),
    (
        "libc6-dev",
        "static glibc for the C reference pause in the benchmark",
    ),
    ("busybox-static", "the busybox of the busybox image"),
    (
        "umoci",
        "an independent reader and writer of OCI layouts in tests",
    ),
    ("util-linux", "unshare, nsenter and lsns in tests"),
    ("iproute2", "ip, to look at pod network namespaces"),
    (
        "containernetworking-plugins",
        "the CNI plugins of the pod network (bridge, host-local, portmap)",
    ),
    ("iptables", "the bridge and portmap plugins program it"),
    ("file", "checks that pause is statically linked"),
    ("time", "GNU time: the peak memory of a command in tests"),
    (
        "docker-registry",
        "a registry on loopback for the image pull and push tests",
    ),
    (
        "skopeo",
        "an independent client that puts images into the test registry",
    ),
    ("apache2-utils", "htpasswd, the test registry's users"),
    (
        "strace",
        "counts the files a container's create opens in a test, and traces a supervisor in another",
    ),
    (
        "e2fsprogs",
        "mkfs.ext4, dumpe2fs and lsattr: a test's own ext4 on a loop device",
    ),
];

pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace's top folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Run a command in the workspace root, echoing it; fail on a non-zero exit.
pub fn run(command: &mut Command) -> Result {
    command.current_dir(root());
    eprintln!("+ {}", shown(command));
    let status = command
        .status()
        .map_err(|e| format!("cannot run {}: {e}", shown(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {status}", shown(command)))
    }
}

fn shown(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Install the Debian packages in [`PACKAGES`] that are missing.
pub fn setup() -> Result {
    ensure_packages(PACKAGES)
}

/// Install those of `packages` (name, why) that are missing, saying why.
pub fn ensure_packages(packages: &[(&str, &str)]) -> Result {
    if !nix_is_root() {
        return Err("run as root: pods need namespaces, mounts and cgroups".into());
    }
    let missing: Vec<&(&str, &str)> = packages
        .iter()
        // busybox-static conflicts with Debian's dynamic busybox: never replace
        // a user's busybox; rootfs-tools then downloads the .deb instead.
        .filter(|(name, _)| {
            !(installed(name) || (*name == "busybox-static" && installed("busybox")))
        })
        .collect();
    if missing.is_empty() {
        eprintln!("setup: every Debian package needed is installed");
        return Ok(());
    }
    eprintln!("setup: installing missing Debian packages:");
    for (name, why) in &missing {
        eprintln!("  {name}: {why}");
    }
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(missing.iter().map(|(name, _)| *name))
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Build the static pause binary (its own workspace: `panic = "abort"`) and
/// put it beside the workspace's debug and release binaries, where podctl looks.
pub fn pause() -> Result<PathBuf> {
    let target = root().join("target");
    run(cargo()
        .args([
            "build",
            "--release",
            "--manifest-path",
            "pause/Cargo.toml",
            "--target-dir",
        ])
        .arg(target.join("pause")))?;
    let built = target.join("pause/release/pause");
    for profile in ["debug", "release"] {
        let dir = target.join(profile);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let dest = dir.join("pause");
        // Replace, never write through: a running pause may hold the old file.
        let temp = dir.join(".pause.tmp");
        std::fs::copy(&built, &temp)
            .map_err(|e| format!("copy pause to {}: {e}", temp.display()))?;
        std::fs::rename(&temp, &dest).map_err(|e| format!("rename to {}: {e}", dest.display()))?;
    }
    Ok(built)
}

/// Build `target/images/busybox` and `target/images/pause` and print their digests and sizes.
pub fn images() -> Result {
    let pause = pause()?;
    run(cargo().args(["build", "--quiet", "-p", "rootfs-tools"]))?;
    let tool = root().join("target/debug/rootfs-tools");
    let images = root().join("target/images");
    run(Command::new(&tool)
        .arg("busybox")
        .arg("--out")
        .arg(images.join("busybox"))
        .arg("--cache")
        .arg(root().join("target/cache")))?;
    run(Command::new(&tool)
        .arg("pause")
        .arg("--binary")
        .arg(&pause)
        .arg("--out")
        .arg(images.join("pause")))
}

/// Build everything the end-to-end tests drive, then run the `tests` crate.
pub fn e2e(filter: &[String]) -> Result {
    setup()?;
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    images()?;
    let mut test = beside_hidden()?;
    test.arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--no-fail-fast", "-p", "tests", "--"])
        .args(filter)
        .env("PODCTL_TARGET_DIR", root().join("target/debug"));
    run(&mut test)
}

/// A command prefix that runs its arguments in a private mount namespace
/// where everything beside the workspace (but the Rust toolchain and the
/// temporary folder) is covered by an empty tmpfs or `/dev/null`: a fresh
/// clone has nothing beside it, so the tests must pass without it. The
/// test `nothing_beside_the_workspace_is_visible` checks it took effect.
/// (The host's network stays reachable, for the test that downloads a
/// Debian package; every test's podctl runs in a network namespace of its
/// own, see `tests::Root`.)
fn beside_hidden() -> Result<Command> {
    let workspace = root();
    let parent = workspace
        .parent()
        .ok_or("the workspace has no parent folder")?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let from_env = |var: &str, fallback: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(fallback)))
    };
    // What the build itself needs stays: a sibling holding any of these is left alone.
    let needed: Vec<PathBuf> = [
        from_env("CARGO_HOME", ".cargo"),
        from_env("RUSTUP_HOME", ".rustup"),
        Some(std::env::temp_dir()),
        std::env::var_os("CARGO").map(PathBuf::from),
        std::env::current_exe().ok(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut hidden = Vec::new();
    if parent != Path::new("/") {
        for entry in
            std::fs::read_dir(parent).map_err(|e| format!("read {}: {e}", parent.display()))?
        {
            let path = entry
                .map_err(|e| format!("read {}: {e}", parent.display()))?
                .path();
            if path == workspace || needed.iter().any(|n| n.starts_with(&path)) {
                continue;
            }
            hidden.push(path.display().to_string());
        }
    }
    let script = r#"set -e
for p in "$@"; do
  [ "$p" = -- ] && { shift; break; }
  if [ -d "$p" ]; then mount -t tmpfs -o size=64k,mode=555 beside-hidden "$p"
  elif [ -f "$p" ]; then mount --bind /dev/null "$p"
  fi
  shift
done
exec "$@""#;
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .args(&hidden)
        .arg("--")
        .env("PODCTL_BESIDE_HIDDEN", "1");
    Ok(command)
}

/// Everything CI runs: formatting, clippy, unit tests and the end-to-end tests.
pub fn test_all() -> Result {
    setup()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["fmt", "--manifest-path", "pause/Cargo.toml", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .args([
            "clippy",
            "--release",
            "--manifest-path",
            "pause/Cargo.toml",
            "--target-dir",
        ])
        .arg(root().join("target/pause"))
        .args(["--", "-D", "warnings"]))?;
    run(cargo().args(["test", "--workspace", "--exclude", "tests"]))?;
    e2e(&[])
}

/// The main job: build pause, podctl and the images, then run the
/// two-container example pod, show what it shares, and delete it.
pub fn demo() -> Result {
    setup()?;
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    images()?;
    let podctl = root().join("target/debug/podctl");
    let state = root().join("target/demo-root");
    // The pod's network (a bridge, a NAT rule) is made in a namespace of the
    // demo's own, with the built-in network: nothing of it stays on the host.
    let net = PrivateNet::new()?;
    let conf = state.join("cni-conf");
    std::fs::create_dir_all(&conf).map_err(|e| format!("create {}: {e}", conf.display()))?;
    let podctl_cmd = |args: &[&str]| {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", net.path()))
            .arg(&podctl)
            .arg("--root")
            .arg(&state)
            .args(args)
            .env("PODCTL_CNI_CONF_DIR", &conf);
        command
    };
    let layout = root().join("target/images/busybox");
    run(&mut podctl_cmd(&[
        "image",
        "import",
        layout.to_str().expect("utf-8 path"),
    ]))?;
    // A demo pod left from an earlier run would make the name taken.
    let _ = podctl_cmd(&["delete", "pod", "--all", "--grace-period", "0"]).status();
    run(&mut podctl_cmd(&[
        "run",
        "-d",
        "-f",
        "examples/two-containers-pod.yml",
    ]))?;
    let result = (|| {
        run(&mut podctl_cmd(&["get", "pods", "-o", "wide"]))?;
        run(&mut podctl_cmd(&[
            "logs",
            "two-containers-pod",
            "-c",
            "hello",
        ]))?;
        run(&mut podctl_cmd(&[
            "logs",
            "two-containers-pod",
            "-c",
            "hello2",
        ]))?;
        run(&mut podctl_cmd(&["inspect", "two-containers-pod"]))
    })();
    let deleted = run(&mut podctl_cmd(&[
        "delete",
        "pod",
        "two-containers-pod",
        "--grace-period",
        "0",
    ]));
    result.and(deleted)?;
    eprintln!(
        "demo: the pod ran: both containers share pause's net, ipc and uts namespaces (see \"namespaces\" above) \
         and have their own mnt and pid; it is deleted now."
    );
    Ok(())
}

/// A network namespace of its own for the bench or the demo, held by a
/// sleeping process (killed when dropped), with `lo` up: the pods' bridge,
/// veths and iptables rules are made there, not on the host.
pub struct PrivateNet {
    holder: Child,
}

impl PrivateNet {
    pub fn new() -> Result<Self> {
        let holder = Command::new("unshare")
            .args(["--net", "--", "sleep", "86400"])
            .spawn()
            .map_err(|e| format!("unshare --net: {e}"))?;
        let net = Self { holder };
        let own = std::fs::read_link("/proc/self/ns/net").map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(net.path()).is_ok_and(|l| l == own) {
            if Instant::now() > deadline {
                return Err("the private network namespace never appeared".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        run(Command::new("nsenter")
            .arg(format!("--net={}", net.path()))
            .args(["ip", "link", "set", "lo", "up"]))?;
        Ok(net)
    }

    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.id())
    }

    /// `program` run in the network namespace at `netns` (a [`Self::path`]):
    /// its process enters it between fork and exec, as a process started
    /// there would be, with no `nsenter` exec'd first (the bench times what
    /// a user types).
    pub fn command_in(netns: &str, program: impl AsRef<std::ffi::OsStr>) -> Result<Command> {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let netns = std::fs::File::open(netns).map_err(|e| format!("open {netns}: {e}"))?;
        let mut command = Command::new(program);
        // SAFETY: the hook runs in the forked child before exec and only
        // makes the setns system call on a file the closure owns.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Ok(command)
    }
}

impl Drop for PrivateNet {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
