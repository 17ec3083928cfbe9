//! Importing OCI image layouts, OCI archives and `docker save` archives:
//! every blob is copied into a staging folder and checked against its
//! descriptor's size and digest before the image is named.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use chrono::Utc;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use sha2::{Digest as _, Sha256};

use super::layers::layer_compression;
use super::store::read_json;
use super::{
    Digest, Error, ImageSummary, MAX_DOCUMENT, Platform, RefEntry, Reference, Result, Store,
    archive, io_err, unpack,
};

/// The most layers an image may have (overlayfs' and Docker's limit is 128).
const MAX_LAYERS: usize = 128;

impl Store {
    /// Import every named image of the OCI layout folder or OCI archive at
    /// `path`. `name` renames the image (only when the layout holds one).
    pub fn import(&self, path: &Path, name: Option<&Reference>) -> Result<Vec<ImageSummary>> {
        self.import_checked(path, name, false)
    }

    /// Import the layout a pull staged in the store's `tmp/`, whose layers
    /// were verified by size and digest as they were downloaded: they are
    /// linked in without being read again (manifests and configs are).
    pub(crate) fn import_pulled(
        &self,
        layout: &Path,
        name: &Reference,
    ) -> Result<Vec<ImageSummary>> {
        self.import_checked(layout, Some(name), true)
    }

    fn import_checked(
        &self,
        path: &Path,
        name: Option<&Reference>,
        verified: bool,
    ) -> Result<Vec<ImageSummary>> {
        let _lock = self.lock()?;
        let staging = tempfile::tempdir_in(self.dir.join("tmp"))
            .map_err(io_err("create staging folder in", &self.dir))?;
        let meta = std::fs::metadata(path).map_err(io_err("read", path))?;
        let layout = if meta.is_dir() {
            path.to_path_buf()
        } else {
            let dest = staging.path().join("layout");
            std::fs::create_dir(&dest).map_err(io_err("create", &dest))?;
            extract_archive(path, &dest)?;
            if archive::is_docker_archive(&dest) {
                archive::docker_to_oci(&dest)?;
            }
            dest
        };
        let default_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| {
                n.trim_end_matches(".tar.gz")
                    .trim_end_matches(".tgz")
                    .trim_end_matches(".tar")
                    .to_ascii_lowercase()
            })
            .unwrap_or_else(|| "image".into());
        let found = read_layout(&layout)?;
        if found.is_empty() {
            return Err(Error::BadLayout {
                path: layout,
                detail: "index.json lists no image manifest".into(),
            });
        }
        if name.is_some() && found.len() > 1 {
            return Err(Error::BadLayout {
                path: layout,
                detail: format!(
                    "it holds {} images and --name can name only one; import without --name",
                    found.len()
                ),
            });
        }

        let blobs = staging.path().join("blobs");
        std::fs::create_dir(&blobs).map_err(io_err("create", &blobs))?;
        let mut imported = Vec::new();
        for (descriptor, annotated) in &found {
            let reference = match (name, annotated) {
                (Some(name), _) => name.clone(),
                (None, Some(text)) => {
                    let text = if text.contains(':') || text.contains('/') {
                        text.clone()
                    } else {
                        format!("{default_name}:{text}")
                    };
                    Reference::parse(&text).map_err(Error::BadReference)?
                }
                (None, None) => {
                    return Err(Error::BadLayout {
                        path: layout.clone(),
                        detail: format!(
                            "manifest {} has no name ({}); give one with --name",
                            descriptor.digest(),
                            rootfs_tools::layout::REF_NAME
                        ),
                    });
                }
            };
            let manifest_bytes = self
                .stage_blob(&layout, descriptor, &blobs, true)?
                .unwrap_or_default();
            let manifest: ImageManifest =
                serde_json::from_slice(&manifest_bytes).map_err(|source| Error::Json {
                    what: format!("parse manifest {}", descriptor.digest()),
                    source,
                })?;
            let config_bytes = self
                .stage_blob(&layout, manifest.config(), &blobs, true)?
                .unwrap_or_default();
            let config: ImageConfiguration =
                serde_json::from_slice(&config_bytes).map_err(|source| Error::Json {
                    what: format!("parse config {}", manifest.config().digest()),
                    source,
                })?;
            if manifest.layers().len() > MAX_LAYERS {
                return Err(Error::BadLayout {
                    path: layout.clone(),
                    detail: format!(
                        "manifest {} has {} layers: at most {MAX_LAYERS}",
                        descriptor.digest(),
                        manifest.layers().len()
                    ),
                });
            }
            if config.rootfs().diff_ids().len() != manifest.layers().len() {
                return Err(Error::BadLayout {
                    path: layout.clone(),
                    detail: format!(
                        "manifest {} has {} layers but its config lists {} diff ids",
                        descriptor.digest(),
                        manifest.layers().len(),
                        config.rootfs().diff_ids().len()
                    ),
                });
            }
            for layer in manifest.layers() {
                layer_compression(layer)?;
                if verified {
                    self.link_verified(&layout, layer, &blobs)?;
                } else {
                    self.stage_blob(&layout, layer, &blobs, false)?;
                }
            }
            let size = descriptor.size()
                + manifest.config().size()
                + manifest.layers().iter().map(|l| l.size()).sum::<u64>();
            imported.push(ImageSummary {
                reference,
                digest: descriptor.digest().to_string(),
                size,
                created: config.created().clone(),
                imported: Utc::now(),
            });
        }

        // Everything verified: move the blobs in, then name the images.
        for entry in std::fs::read_dir(&blobs).map_err(io_err("read", &blobs))? {
            let entry = entry.map_err(io_err("read", &blobs))?;
            let dest = self.dir.join("blobs/sha256").join(entry.file_name());
            std::fs::rename(entry.path(), &dest).map_err(io_err("move blob to", &dest))?;
        }
        let mut refs = self.read_refs()?;
        for image in &imported {
            refs.images.insert(
                image.reference.to_string(),
                RefEntry {
                    digest: image.digest.clone(),
                    imported: image.imported,
                },
            );
        }
        self.write_refs(&refs)?;
        Ok(imported)
    }

    /// Link a blob that was verified when it was written into `staging`
    /// (same filesystem); its size is checked again.
    fn link_verified(&self, layout: &Path, descriptor: &Descriptor, staging: &Path) -> Result<()> {
        let parsed = Digest::parse(descriptor.digest().as_ref())?;
        let digest = parsed.to_string();
        let source = layout.join("blobs/sha256").join(parsed.hex());
        let target = staging.join(parsed.hex());
        if self.blob_path(&parsed).exists() || target.exists() {
            return Ok(());
        }
        let size = std::fs::metadata(&source).map_or(u64::MAX, |m| m.len());
        if size != descriptor.size() {
            return Err(Error::BlobMismatch {
                digest,
                detail: format!("size {size} bytes, descriptor says {}", descriptor.size()),
            });
        }
        std::fs::hard_link(&source, &target).map_err(io_err("link", &target))
    }

    /// Copy the blob of `descriptor` from `layout` into `staging`, checking its
    /// size and digest on the way; returns its bytes when `keep` (documents).
    fn stage_blob(
        &self,
        layout: &Path,
        descriptor: &Descriptor,
        staging: &Path,
        keep: bool,
    ) -> Result<Option<Vec<u8>>> {
        let parsed = Digest::parse(descriptor.digest().as_ref())?;
        let (digest, hex) = (parsed.to_string(), parsed.hex());
        let source = layout.join("blobs/sha256").join(hex);
        if keep && descriptor.size() > MAX_DOCUMENT {
            return Err(Error::BlobMismatch {
                digest,
                detail: format!("a {} byte document is too large", descriptor.size()),
            });
        }
        let mut input = File::open(&source).map_err(|e| Error::BlobMismatch {
            digest: digest.clone(),
            detail: format!("cannot read {}: {e}", source.display()),
        })?;
        let already = self.blob_path(&parsed).exists();
        let target = staging.join(hex);
        let mut output = if already || target.exists() {
            None
        } else {
            Some(File::create(&target).map_err(io_err("create", &target))?)
        };
        let mut kept = Vec::new();
        let mut hasher = Sha256::new();
        let mut total: u64 = 0;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = input.read(&mut buffer).map_err(io_err("read", &source))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > descriptor.size() {
                break;
            }
            hasher.update(&buffer[..n]);
            if keep {
                kept.extend_from_slice(&buffer[..n]);
            }
            if let Some(out) = output.as_mut() {
                out.write_all(&buffer[..n])
                    .map_err(io_err("write", &target))?;
            }
        }
        if total != descriptor.size() {
            return Err(Error::BlobMismatch {
                digest,
                detail: format!(
                    "size {}{} bytes, descriptor says {}",
                    if total > descriptor.size() {
                        "over "
                    } else {
                        ""
                    },
                    total,
                    descriptor.size()
                ),
            });
        }
        let actual = hex::encode(hasher.finalize());
        if actual != hex {
            return Err(Error::BlobMismatch {
                digest,
                detail: format!("content hashes to sha256:{actual}"),
            });
        }
        if let Some(out) = output {
            out.sync_all().map_err(io_err("sync", &target))?;
        }
        Ok(keep.then_some(kept))
    }
}

/// The manifests an OCI layout names: (descriptor, its name annotation).
/// Nested indexes are followed, keeping the entry of this machine's platform.
fn read_layout(layout: &Path) -> Result<Vec<(Descriptor, Option<String>)>> {
    let marker = layout.join("oci-layout");
    for document in [&marker, &layout.join("index.json")] {
        let size = std::fs::metadata(document).map_or(0, |m| m.len());
        if size > MAX_DOCUMENT {
            return Err(Error::BadLayout {
                path: layout.to_path_buf(),
                detail: format!(
                    "{} is {size} bytes: at most {MAX_DOCUMENT}",
                    document.display()
                ),
            });
        }
    }
    let text = std::fs::read_to_string(&marker).map_err(|e| Error::BadLayout {
        path: layout.to_path_buf(),
        detail: format!("cannot read oci-layout: {e}"),
    })?;
    let version: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::BadLayout {
        path: layout.to_path_buf(),
        detail: format!("oci-layout is not JSON: {e}"),
    })?;
    if !version["imageLayoutVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("1."))
    {
        return Err(Error::BadLayout {
            path: layout.to_path_buf(),
            detail: format!("unsupported imageLayoutVersion in {text}"),
        });
    }
    let index: ImageIndex =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).map_err(|e| {
            Error::BadLayout {
                path: layout.to_path_buf(),
                detail: format!("cannot read index.json: {e}"),
            }
        })?)
        .map_err(|e| Error::BadLayout {
            path: layout.to_path_buf(),
            detail: format!("index.json: {e}"),
        })?;
    let mut found = Vec::new();
    for descriptor in index.manifests() {
        let name = descriptor.annotations().as_ref().and_then(|a| {
            let full = a.get(rootfs_tools::layout::IMAGE_NAME);
            match a.get(rootfs_tools::layout::REF_NAME) {
                // A tag alone takes its name from containerd's annotation when present
                // (tools like umoci re-tag and keep the old annotation: the tag wins).
                Some(tag) if !tag.contains(':') && !tag.contains('/') => {
                    Some(match full.and_then(|f| Reference::parse(f).ok()) {
                        Some(full) => format!("{}:{tag}", full.name),
                        None => tag.clone(),
                    })
                }
                Some(reference) => Some(reference.clone()),
                None => full.cloned(),
            }
        });
        match descriptor.media_type() {
            MediaType::ImageManifest => found.push((descriptor.clone(), name)),
            MediaType::ImageIndex => {
                let nested = Digest::parse(descriptor.digest().as_ref())?;
                let nested: ImageIndex =
                    read_json(&layout.join("blobs/sha256").join(nested.hex()))?;
                let here = Platform::host();
                let chosen = nested.manifests().iter().find(|m| {
                    m.platform().as_ref().is_none_or(|p| {
                        here.matches(&p.os().to_string(), &p.architecture().to_string())
                    })
                });
                if let Some(manifest) = chosen {
                    found.push((manifest.clone(), name));
                }
            }
            other => {
                tracing::warn!(digest = %descriptor.digest(), media_type = %other, "skipping index entry that is not an image")
            }
        }
    }
    Ok(found)
}

/// Extract an OCI archive (a tar of a layout, optionally gzip-compressed) into `dest`.
fn extract_archive(path: &Path, dest: &Path) -> Result<()> {
    let mut file = io::BufReader::new(unpack::open(path)?);
    let gzip = {
        use io::BufRead;
        file.fill_buf()
            .map_err(io_err("read", path))?
            .starts_with(&[0x1f, 0x8b])
    };
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    unpack::unpack_layer(reader, dest, &path.display().to_string())
}
