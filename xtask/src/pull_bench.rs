//! `cargo xtask bench pull`: pulling a ~100 MB, five-layer image (busybox
//! from rootfs-tools plus four layers of random data added with umoci) from
//! a registry on loopback (Debian's docker-registry in a network namespace
//! of the bench's own) into an empty store: podctl against `podman pull`
//! and `skopeo copy` of the same image in the same run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{machine, median_ms, podctl_version, write_section};
use crate::build::{self, PrivateNet, Result, root};

/// Pulls per tool.
const RUNS: usize = 3;
/// Random-data layers added to busybox, in MiB.
const EXTRA_LAYERS_MIB: [u64; 4] = [25, 25, 25, 25];
const REFERENCE: &str = "127.0.0.1:5000/bench/big:1";

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn in_net(net: &PrivateNet, program: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", net.path())).arg(program);
    c
}

fn quiet(c: &mut Command) -> &mut Command {
    c.stdout(Stdio::null()).stderr(Stdio::null())
}

/// The image: busybox's layout, then four layers of random files.
fn make_image(work: &Path) -> Result<String> {
    let layout = work.join("big");
    let _ = std::fs::remove_dir_all(&layout);
    build::run(
        Command::new("cp")
            .arg("-a")
            .arg(root().join("target/images/busybox"))
            .arg(&layout),
    )?;
    for (i, mib) in EXTRA_LAYERS_MIB.iter().enumerate() {
        let dir = work.join(format!("layer{i}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        build::run(quiet(Command::new("dd").args([
            "if=/dev/urandom",
            &format!("of={}/data{i}", dir.display()),
            "bs=1M",
            &format!("count={mib}"),
        ])))?;
        build::run(
            Command::new("umoci")
                .args(["insert", "--image"])
                .arg(format!("{}:latest", layout.display()))
                .arg(&dir)
                .arg(format!("/data/{i}")),
        )?;
    }
    Ok(format!("oci:{}:latest", layout.display()))
}

fn timed(command: &mut Command) -> Result<f64> {
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("run {command:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

pub fn pull() -> Result {
    crate::bench::release_build()?;
    let podctl = root().join("target/release/podctl");
    let work = root().join("target/bench/pull");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let source = make_image(&work)?;
    let net = PrivateNet::new()?;
    let config = work.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\n",
            work.join("registry").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let _registry = Registry(
        quiet(in_net(&net, "docker-registry").arg("serve").arg(&config))
            .spawn()
            .map_err(|e| format!("start docker-registry: {e}"))?,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !in_net(&net, "bash")
        .args(["-c", "exec 3<>/dev/tcp/127.0.0.1/5000"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        if Instant::now() > deadline {
            return Err("the registry did not come up".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    build::run(quiet(
        in_net(&net, "skopeo")
            .args(["copy", "--dest-tls-verify=false", &source])
            .arg(format!("docker://{REFERENCE}")),
    ))?;
    let size_mib: u64 = EXTRA_LAYERS_MIB.iter().sum();

    let (mut ours, mut ours_unpack, mut network, mut import) = (vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        let state = work.join(format!("podctl-{run}"));
        let mut pull = in_net(&net, podctl.to_str().expect("utf-8 path"));
        pull.arg("--root")
            .arg(&state)
            .args(["-v", "image", "pull", REFERENCE]);
        let started = Instant::now();
        let out = pull.output().map_err(|e| format!("podctl pull: {e}"))?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            return Err(format!(
                "podctl pull: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let log = String::from_utf8_lossy(&out.stderr);
        let part = |key: &str| -> f64 {
            log.lines()
                .find_map(|l| l.split(key).nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|d| humantime_ms(d.trim_end_matches([',', ';'])))
                .unwrap_or(0.0)
        };
        network.push(part("streamed) "));
        import.push(part("; import "));
        let unpack = timed(quiet(
            Command::new(&podctl)
                .arg("--root")
                .arg(&state)
                .args(["image", "unpack", REFERENCE]),
        ))?;
        ours.push(elapsed);
        ours_unpack.push(elapsed + unpack);
        let _ = std::fs::remove_dir_all(&state);
    }
    let (mut podman, mut skopeo) = (vec![], vec![]);
    for run in 0..RUNS {
        let storage = work.join(format!("podman-{run}"));
        podman.push(timed(quiet(
            in_net(&net, "podman")
                .arg("--root")
                .arg(storage.join("root"))
                .arg("--runroot")
                .arg(storage.join("run"))
                .args(["pull", "--tls-verify=false", REFERENCE]),
        ))?);
        let _ = Command::new("podman")
            .arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["system", "reset", "-f"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&storage);
        let out = work.join(format!("skopeo-{run}"));
        skopeo.push(timed(quiet(
            in_net(&net, "skopeo")
                .args(["copy", "--src-tls-verify=false"])
                .arg(format!("docker://{REFERENCE}"))
                .arg(format!("oci:{}:big", out.display())),
        ))?);
        let _ = std::fs::remove_dir_all(&out);
    }
    let (o, o_min, o_max) = median_ms(&mut ours);
    let (u, u_min, u_max) = median_ms(&mut ours_unpack);
    let (p, p_min, p_max) = median_ms(&mut podman);
    let (s, s_min, s_max) = median_ms(&mut skopeo);
    let (n, _, _) = median_ms(&mut network);
    let (i, _, _) = median_ms(&mut import);
    let verdict = if u <= p {
        format!("- pull and unpack: {u:.0} ms, target at most podman pull's {p:.0} ms: met")
    } else {
        format!(
            "- pull and unpack: {u:.0} ms, target at most podman pull's {p:.0} ms: MISSED by {:.0} ms",
            u - p
        )
    };
    let text = format!(
        "Measured by `cargo xtask bench pull` (release build): a five-layer image of {size_mib} MiB of random data plus busybox (rootfs-tools' busybox layout, four layers added with `umoci insert`), pushed with skopeo to Debian's docker-registry on 127.0.0.1 in a network namespace of the bench's own, then pulled into an empty store {RUNS} times per tool; medians (min-max).\n\n\
| what | time |\n|---|---:|\n\
| podctl image pull (fetched, verified, imported) | {o:.0} ms ({o_min:.0}-{o_max:.0}) |\n\
| podctl image pull + image unpack (layers unpacked, as podman's pull does) | {u:.0} ms ({u_min:.0}-{u_max:.0}) |\n\
| podman pull (into fresh storage, unpacked) | {p:.0} ms ({p_min:.0}-{p_max:.0}) |\n\
| skopeo copy to an OCI layout (no unpack) | {s:.0} ms ({s_min:.0}-{s_max:.0}) |\n\n\
podctl's pull, split: network (blobs streamed and verified by size and digest as they arrive) {n:.0} ms; import into the store (manifest and config checked again, layers linked in, named) {i:.0} ms; unpack {:.0} ms.\n\n{verdict}\n\nVersions: {}; podman 4.3.1 (Debian); skopeo (Debian).\n\n",
        u - o,
        podctl_version(),
    );
    println!("{text}");
    write_section("pull", &format!("## pull\n\n{}\n\n{text}", machine()))
}

/// `1.234567s` or `12.3ms` (Debug of a Duration) in milliseconds.
fn humantime_ms(text: &str) -> Option<f64> {
    if let Some(ms) = text.strip_suffix("ms") {
        ms.parse().ok()
    } else if let Some(us) = text.strip_suffix("µs") {
        us.parse::<f64>().ok().map(|u| u / 1000.0)
    } else {
        text.strip_suffix('s')?
            .parse::<f64>()
            .ok()
            .map(|s| s * 1000.0)
    }
}
