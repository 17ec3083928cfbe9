//! `docker save` / `podman save` archives (`manifest.json`, a config and
//! layer tars) turned into an OCI layout, which the store then imports as
//! any other: every blob named by its digest, the images by their RepoTags.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::{Error, MAX_DOCUMENT, Result, io_err};

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Whether the extracted archive at `dir` is a Docker archive (and not an OCI layout).
pub fn is_docker_archive(dir: &Path) -> bool {
    dir.join("manifest.json").is_file() && !dir.join("oci-layout").is_file()
}

/// Turn the Docker archive extracted at `dir` into an OCI layout in place.
pub fn docker_to_oci(dir: &Path) -> Result<()> {
    let bad = |detail: String| Error::BadLayout {
        path: dir.to_path_buf(),
        detail,
    };
    let manifest_path = dir.join("manifest.json");
    if std::fs::metadata(&manifest_path).map_or(0, |m| m.len()) > MAX_DOCUMENT {
        return Err(bad("manifest.json is too large".into()));
    }
    let text = std::fs::read(&manifest_path).map_err(io_err("read", &manifest_path))?;
    let entries: Vec<Entry> = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("manifest.json of a docker archive: {e}")))?;
    if entries.is_empty() {
        return Err(bad("manifest.json lists no image".into()));
    }
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io_err("create", &blobs))?;
    let mut index = Vec::new();
    for entry in &entries {
        let (config_digest, config_size) = add_blob(dir, &entry.config)?;
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let (digest, size) = add_blob(dir, layer)?;
            let media_type = layer_media_type(&blobs.join(&digest[7..]))?;
            layers
                .push(serde_json::json!({"mediaType": media_type, "digest": digest, "size": size}));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": layers,
        });
        let bytes = manifest.to_string().into_bytes();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let path = blobs.join(&digest[7..]);
        std::fs::write(&path, &bytes).map_err(io_err("write", &path))?;
        let tags = entry.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            index.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": bytes.len()}));
        }
        for tag in tags {
            index.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }));
        }
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": index});
    let path = dir.join("index.json");
    std::fs::write(&path, index.to_string()).map_err(io_err("write", &path))?;
    let path = dir.join("oci-layout");
    std::fs::write(&path, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err("write", &path))
}

/// Put the archive's file `name` into `blobs/sha256/` under its digest.
fn add_blob(dir: &Path, name: &str) -> Result<(String, u64)> {
    let relative = Path::new(name);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Error::BadLayout {
            path: dir.to_path_buf(),
            detail: format!("manifest.json names {name:?}, outside the archive"),
        });
    }
    let path = dir.join(relative);
    let meta = std::fs::symlink_metadata(&path).map_err(io_err("read", &path))?;
    if !meta.is_file() {
        return Err(Error::BadLayout {
            path: dir.to_path_buf(),
            detail: format!("{name} is not a regular file"),
        });
    }
    let mut file = std::fs::File::open(&path).map_err(io_err("read", &path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(io_err("read", &path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let hex = hex::encode(hasher.finalize());
    let target = dir.join("blobs/sha256").join(&hex);
    if target != path && !target.exists() {
        std::fs::hard_link(&path, &target)
            .or_else(|_| std::fs::copy(&path, &target).map(drop))
            .map_err(io_err("copy", &target))?;
    }
    Ok((format!("sha256:{hex}"), meta.len()))
}

/// The media type of a layer file, by its first bytes.
fn layer_media_type(path: &Path) -> Result<&'static str> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(io_err("read", path))?;
    let n = file.read(&mut magic).map_err(io_err("read", path))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    })
}
