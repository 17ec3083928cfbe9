//! Builds root filesystems and packs them into OCI image layouts.
//!
//! - [`busybox`]: a busybox root filesystem from Debian's `busybox-static`;
//! - [`layout`]: any folder packed as a reproducible OCI image layout
//!   (image-spec 1.1: `oci-layout`, `index.json`, manifest, config, one gzip layer);
//! - [`pause_image`]: the pause image, one file `/pause` and the empty `/dev`, `FROM scratch`.
//!
//! It knows nothing about pods: `podcore` and `xtask` use it to make images.

pub mod busybox;
pub mod elf;
pub mod layout;

use std::path::PathBuf;

pub use layout::{ImageConfig, PackedImage, pack};

/// What went wrong while building or packing a root filesystem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("command `{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("no static busybox found: {0}")]
    NoBusybox(String),
    #[error("oci image document: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported file type at {0} in the root filesystem")]
    UnsupportedFile(PathBuf),
}

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn ctx(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            context,
            path: path.into(),
            source,
        })
    }
}

/// Pack the pause image: one file `/pause` (the static pause binary, mode
/// 0755) and an empty `/dev`, entrypoint `["/pause"]`, nothing else. The
/// runtime mounts its `/dev` there; with the folder in the layer, the layer
/// itself can be pause's read-only root (no overlay, no copy-up).
pub fn pause_image(pause_binary: &std::path::Path, out: &std::path::Path) -> Result<PackedImage> {
    let staging = tempfile::tempdir().ctx("create staging folder in", std::env::temp_dir())?;
    let target = staging.path().join("pause");
    std::fs::copy(pause_binary, &target).ctx("copy pause binary", pause_binary)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .ctx("chmod", &target)?;
    let dev = staging.path().join("dev");
    std::fs::create_dir(&dev).ctx("create", &dev)?;
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o755)).ctx("chmod", &dev)?;
    let config = ImageConfig {
        name: "pause".into(),
        tag: "latest".into(),
        entrypoint: vec!["/pause".into()],
        cmd: vec![],
        env: vec![layout::DEFAULT_PATH_ENV.into()],
        working_dir: "/".into(),
        user: String::new(),
    };
    pack(staging.path(), out, &config)
}
