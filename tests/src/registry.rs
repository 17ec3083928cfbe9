//! A real registry for tests: Debian's `docker-registry` (the CNCF
//! distribution registry) on 127.0.0.1 inside a test's network namespace,
//! storage in a temp folder, optionally with htpasswd users; killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{Guard, NetNs, output, wait_for};

/// A running registry.
pub struct TestRegistry {
    _process: Guard,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl TestRegistry {
    /// Start one on `127.0.0.1:port` in `netns`; with `user`, only that user
    /// (user name, password) may use it.
    pub fn start(netns: &NetNs, port: u16, user: Option<(&str, &str)>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("podctl-registry-")
            .tempdir()
            .unwrap();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some((name, password)) = user {
            let (code, out, err) = output(Command::new("htpasswd").args(["-Bbn", name, password]));
            assert_eq!(code, 0, "htpasswd: {err}");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: podctl-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let process = Guard(
            netns
                .enter()
                .arg("docker-registry")
                .arg("serve")
                .arg(&config_file)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry (apt install docker-registry)"),
        );
        let registry = Self {
            _process: process,
            dir,
            host,
        };
        let up = wait_for(Duration::from_secs(10), || {
            let (code, _, _) = output(netns.enter().args([
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/127.0.0.1/{port}"),
            ]));
            (code == 0).then_some(())
        });
        if up.is_none() {
            let log = std::fs::read_to_string(registry.dir.path().join("registry.log"));
            panic!("the registry did not come up: {log:?}");
        }
        registry
    }

    /// `skopeo copy` into this registry (in `netns`), plain HTTP.
    pub fn copy_in(&self, netns: &NetNs, source: &str, name: &str, extra: &[&str]) {
        let (code, out, err) = output(
            netns
                .enter()
                .args(["skopeo", "copy", "--dest-tls-verify=false"])
                .args(extra)
                .arg(source)
                .arg(format!("docker://{}/{name}", self.host)),
        );
        assert_eq!(code, 0, "skopeo copy {source} {name}: {out}{err}");
    }

    /// The file of a blob in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// An OCI layout reference to the workspace's busybox image, for skopeo.
pub fn busybox_layout() -> String {
    format!(
        "oci:{}:latest",
        crate::workspace().join("target/images/busybox").display()
    )
}

/// The path of a file in `dir`, as a string.
pub fn path_in(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}
