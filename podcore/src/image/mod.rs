//! The local OCI image store.
//!
//! Images come in as OCI image layouts (folders), OCI archives (tars of a
//! layout), `docker save` archives ([`archive`]) or from registries
//! ([`registry`]). Every blob is checked against its descriptor's digest and size
//! before anything is recorded, so an import either lands whole or leaves
//! nothing. Layers are unpacked once, on first use, into a cache keyed by
//! diff id and shared by all images; a container's root filesystem is an
//! overlay of those folders (see [`overlay`]).

pub mod archive;
pub mod overlay;
pub mod reference;
pub mod registry;
mod unpack;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use reference::Reference;

/// Manifests and configs larger than this are refused (they are JSON documents
/// of a few KiB; a huge one is an attack on memory).
const MAX_DOCUMENT: u64 = 4 << 20;

/// What can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "image {reference} is not present, import it with `podctl image import PATH --name {reference}`"
    )]
    NotFound { reference: String },
    #[error("{0}")]
    BadReference(String),
    #[error("blob {digest} does not match its descriptor: {detail}")]
    BlobMismatch { digest: String, detail: String },
    #[error(
        "layer {layer}: unpacked content has diff id {actual}, the image config says {expected}"
    )]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error(
        "layer {layer} unpacks to more than {limit} bytes ({compressed} bytes compressed): \
         refused as a decompression bomb; set PODCTL_MAX_LAYER_SIZE for larger layers"
    )]
    LayerTooLarge {
        layer: String,
        compressed: u64,
        limit: u64,
    },
    #[error("not an OCI image layout at {path}: {detail}")]
    BadLayout { path: PathBuf, detail: String },
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    #[error("layer {layer}: refused entry {path:?}: {reason}")]
    UnsafeLayerEntry {
        layer: String,
        path: String,
        reason: &'static str,
    },
    #[error("layer {layer}: unreadable tar entry {path:?}: {source}")]
    BadLayer {
        layer: String,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("image {reference} is used by pod(s) {pods}: delete them first")]
    InUse { reference: String, pods: String },
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("pack the pause image: {0}")]
    Pause(#[from] rootfs_tools::Error),
}

/// Result of the image store's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// The name the pause image has in every store.
pub fn pause_reference() -> Reference {
    Reference {
        name: "podctl/pause".into(),
        tag: env!("CARGO_PKG_VERSION").into(),
        digest: None,
    }
}

/// One named image as listed.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub reference: Reference,
    /// The manifest's digest.
    pub digest: String,
    /// Bytes of the manifest, config and layer blobs.
    pub size: u64,
    /// The config's `created`, when it has one.
    pub created: Option<String>,
    pub imported: DateTime<Utc>,
}

/// A resolved image: its manifest and config.
#[derive(Debug, Clone)]
pub struct Image {
    pub reference: Reference,
    pub digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Refs {
    images: BTreeMap<String, RefEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefEntry {
    digest: String,
    imported: DateTime<Utc>,
}

/// The image store under `<root>/images`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store below the podctl root `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("images");
        for sub in ["blobs/sha256", "layers/sha256", "tmp"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(io_err("create", &path))?;
        }
        Ok(Self { dir })
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            context: "lock",
            path,
            source: e.into(),
        })
    }

    /// Hard-link the stored blob `digest` to `target`; false when the store
    /// does not hold it (or it cannot be linked: then it is fetched again).
    pub fn link_blob(&self, digest: &str, target: &Path) -> bool {
        sha256_hex(digest).is_ok() && std::fs::hard_link(self.blob_path(digest), target).is_ok()
    }

    /// A stored blob's bytes.
    pub fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        sha256_hex(digest)?;
        let path = self.blob_path(digest);
        std::fs::read(&path).map_err(io_err("read", &path))
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn read_refs(&self) -> Result<Refs> {
        let path = self.dir.join("refs.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                what: format!("read {}", path.display()),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Refs::default()),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    fn write_refs(&self, refs: &Refs) -> Result<()> {
        let path = self.dir.join("refs.json");
        let bytes = serde_json::to_vec_pretty(refs).map_err(|source| Error::Json {
            what: "encode refs".into(),
            source,
        })?;
        crate::fsutil::write_atomic(&path, &bytes).map_err(io_err("write", &path))
    }

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
        let digest = descriptor.digest().to_string();
        let hex = sha256_hex(&digest)?;
        let source = layout.join("blobs/sha256").join(&hex);
        let target = staging.join(&hex);
        if self.blob_path(&digest).exists() || target.exists() {
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
        let digest = descriptor.digest().to_string();
        let hex = sha256_hex(&digest)?;
        let source = layout.join("blobs/sha256").join(&hex);
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
        let already = self.blob_path(&digest).exists();
        let target = staging.join(&hex);
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

    /// Every named image.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let refs = self.read_refs()?;
        let mut out = Vec::new();
        for (name, entry) in &refs.images {
            let reference = Reference::parse(name).map_err(Error::BadReference)?;
            let image = self.load(&reference, entry)?;
            let size = image
                .manifest
                .layers()
                .iter()
                .map(|l| l.size())
                .sum::<u64>()
                + image.manifest.config().size();
            out.push(ImageSummary {
                reference,
                digest: entry.digest.clone(),
                size,
                created: image.config.created().clone(),
                imported: entry.imported,
            });
        }
        Ok(out)
    }

    /// Find an image by reference (`busybox` means `busybox:latest`).
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let reference = Reference::parse(reference).map_err(Error::BadReference)?;
        let refs = self.read_refs()?;
        let entry = refs
            .images
            .get(&reference.to_string())
            .ok_or_else(|| Error::NotFound {
                reference: reference.to_string(),
            })?;
        self.load(&reference, entry)
    }

    fn load(&self, reference: &Reference, entry: &RefEntry) -> Result<Image> {
        let manifest: ImageManifest = read_json(&self.blob_path(&entry.digest))?;
        let config: ImageConfiguration =
            read_json(&self.blob_path(manifest.config().digest().as_ref()))?;
        Ok(Image {
            reference: reference.clone(),
            digest: entry.digest.clone(),
            manifest,
            config,
        })
    }

    /// The raw config JSON of an image, as stored.
    pub fn config_json(&self, image: &Image) -> Result<serde_json::Value> {
        read_json(&self.blob_path(image.manifest.config().digest().as_ref()))
    }

    /// Remove an image's name, then every blob and unpacked layer no other
    /// image uses. Whether a pod uses it is not the store's to know: see
    /// [`crate::image_cleanup::remove_image`].
    pub fn remove(&self, reference: &str) -> Result<Reference> {
        let _lock = self.lock()?;
        let reference = Reference::parse(reference).map_err(Error::BadReference)?;
        let mut refs = self.read_refs()?;
        if refs.images.remove(&reference.to_string()).is_none() {
            return Err(Error::NotFound {
                reference: reference.to_string(),
            });
        }
        self.write_refs(&refs)?;
        self.collect_garbage(&refs)?;
        Ok(reference)
    }

    /// Remove what no image uses; with `all`, first every image whose name is
    /// not in `in_use` (the pause image always stays). Returns the names
    /// removed and the bytes freed (blobs).
    pub fn prune(&self, in_use: &[String], all: bool) -> Result<(Vec<Reference>, u64)> {
        let _lock = self.lock()?;
        let mut refs = self.read_refs()?;
        let mut removed = Vec::new();
        if all {
            let pause = pause_reference().to_string();
            let names: Vec<String> = refs.images.keys().cloned().collect();
            for name in names {
                let used = in_use
                    .iter()
                    .any(|u| Reference::parse(u).is_ok_and(|r| r.to_string() == name));
                if !used && name != pause {
                    refs.images.remove(&name);
                    removed.push(Reference::parse(&name).map_err(Error::BadReference)?);
                }
            }
            self.write_refs(&refs)?;
        }
        let dir = self.dir.join("blobs/sha256");
        let size = || -> u64 {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        };
        let before = size();
        self.collect_garbage(&refs)?;
        Ok((removed, before.saturating_sub(size())))
    }

    fn collect_garbage(&self, refs: &Refs) -> Result<()> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for (name, entry) in &refs.images {
            let reference = Reference::parse(name).map_err(Error::BadReference)?;
            let image = self.load(&reference, entry)?;
            blobs.insert(sha256_hex(&entry.digest)?);
            blobs.insert(sha256_hex(image.manifest.config().digest().as_ref())?);
            for layer in image.manifest.layers() {
                blobs.insert(sha256_hex(layer.digest().as_ref())?);
            }
            for diff_id in image.config.rootfs().diff_ids() {
                layers.insert(sha256_hex(diff_id)?);
            }
        }
        for (sub, keep) in [("blobs/sha256", &blobs), ("layers/sha256", &layers)] {
            let dir = self.dir.join(sub);
            for entry in std::fs::read_dir(&dir).map_err(io_err("read", &dir))? {
                let entry = entry.map_err(io_err("read", &dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) {
                    let path = entry.path();
                    let removed = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed.map_err(io_err("remove", &path))?;
                }
            }
        }
        Ok(())
    }

    /// The unpacked layer folders of `image`, bottom layer first, unpacking
    /// (and checking the diff id of) any layer not yet in the cache.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let pairs: Vec<_> = image
            .manifest
            .layers()
            .iter()
            .zip(image.config.rootfs().diff_ids())
            .collect();
        let mut dirs = Vec::with_capacity(pairs.len());
        let mut lock = None;
        for (layer, diff_id) in pairs {
            let dir = self.dir.join("layers/sha256").join(sha256_hex(diff_id)?);
            if !dir.exists() {
                if lock.is_none() {
                    lock = Some(self.lock()?);
                }
                if !dir.exists() {
                    self.unpack(layer, diff_id, &dir)?;
                }
            }
            dirs.push(dir);
        }
        Ok(dirs)
    }

    fn unpack(&self, layer: &Descriptor, diff_id: &str, dir: &Path) -> Result<()> {
        let digest = layer.digest().to_string();
        // Unpacked in the store's staging folder, apart from the finished
        // layers: a failure removes only this folder.
        let staging = self.dir.join("tmp");
        let temp = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(&staging)
            .map_err(io_err("create unpack folder in", &staging))?;
        let blob = self.blob_path(&digest);
        let file = io::BufReader::new(unpack::open(&blob)?);
        let limit = unpacked_limit(layer.size(), max_layer_size());
        let mut reader = HashingReader {
            inner: decompressor(layer, file)?,
            hasher: Sha256::new(),
            read: 0,
            limit,
        };
        let unpacked = unpack::unpack_layer(&mut reader, temp.path(), &digest)
            .and_then(|()| io::copy(&mut reader, &mut io::sink()).map_err(io_err("read", &blob)));
        if reader.read > limit {
            return Err(Error::LayerTooLarge {
                layer: digest,
                compressed: layer.size(),
                limit,
            });
        }
        unpacked?;
        let actual = format!("sha256:{}", hex::encode(reader.hasher.finalize()));
        if actual != diff_id {
            return Err(Error::DiffIdMismatch {
                layer: digest,
                expected: diff_id.to_string(),
                actual,
            });
        }
        let temp = temp.keep();
        std::fs::rename(&temp, dir).map_err(io_err("rename unpacked layer to", dir))
    }

    /// Make sure the pause image is in the store, packing it from the static
    /// pause binary at `binary` when it is not (a fresh store needs no manual step).
    pub fn ensure_pause(&self, binary: &Path) -> Result<Reference> {
        let reference = pause_reference();
        if self
            .read_refs()?
            .images
            .contains_key(&reference.to_string())
        {
            return Ok(reference);
        }
        let staging = tempfile::tempdir_in(self.dir.join("tmp"))
            .map_err(io_err("create staging folder in", &self.dir))?;
        let layout = staging.path().join("pause");
        rootfs_tools::pause_image(binary, &layout)?;
        self.import(&layout, Some(&reference))?;
        Ok(reference)
    }
}

/// A layer's tar stream, hashed as it is read and cut off past `limit` bytes.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other("the layer unpacks to more than its limit"));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Past this many unpacked bytes a layer must stay within [`MAX_RATIO`] of its
/// compressed size: real layers compress a few times, decompression bombs a
/// thousand times.
const RATIO_FREE: u64 = 64 << 20;
/// The most a layer may unpack to, per compressed byte, past [`RATIO_FREE`].
const MAX_RATIO: u64 = 100;
/// The default cap on a layer's unpacked size (`PODCTL_MAX_LAYER_SIZE` sets another).
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 8 << 30;
/// The most layers an image may have (overlayfs' and Docker's limit is 128).
const MAX_LAYERS: usize = 128;

/// How many bytes a layer of `compressed` bytes may unpack to, at most `max`.
fn unpacked_limit(compressed: u64, max: u64) -> u64 {
    max.min(RATIO_FREE.max(compressed.saturating_mul(MAX_RATIO)))
}

/// The cap on a layer's unpacked size: `PODCTL_MAX_LAYER_SIZE` (a quantity
/// such as `20Gi`) or [`DEFAULT_MAX_LAYER_SIZE`].
fn max_layer_size() -> u64 {
    std::env::var("PODCTL_MAX_LAYER_SIZE")
        .ok()
        .and_then(|v| crate::spec::quantity::memory_bytes(&v).ok())
        .unwrap_or(DEFAULT_MAX_LAYER_SIZE)
}

enum Compression {
    None,
    Gzip,
    Zstd,
}

fn layer_compression(layer: &Descriptor) -> Result<Compression> {
    match layer.media_type() {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Ok(Compression::None),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
            Ok(Compression::Gzip)
        }
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
            Ok(Compression::Zstd)
        }
        MediaType::Other(docker) if DOCKER_GZIP_LAYERS.contains(&docker.as_str()) => {
            Ok(Compression::Gzip)
        }
        MediaType::Other(docker) if docker == DOCKER_TAR_LAYER => Ok(Compression::None),
        other => Err(Error::Unsupported {
            what: "layer media type",
            detail: format!(
                "{other} (layer {}); tar, tar+gzip and tar+zstd layers (OCI or Docker) are supported",
                layer.digest()
            ),
        }),
    }
}

/// Docker schema 2's gzip layers (the second: "foreign", not to be pushed elsewhere).
const DOCKER_GZIP_LAYERS: [&str; 2] = [
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// An uncompressed layer as `docker save` archives name it.
const DOCKER_TAR_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

fn decompressor<'a>(layer: &Descriptor, file: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    Ok(match layer_compression(layer)? {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(file)),
        Compression::Zstd => {
            Box::new(
                zstd::stream::read::Decoder::new(file).map_err(|e| Error::Unsupported {
                    what: "zstd layer",
                    detail: format!("{}: {e}", layer.digest()),
                })?,
            )
        }
    })
}

fn sha256_hex(digest: &str) -> Result<String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| Error::Unsupported {
            what: "digest algorithm",
            detail: format!("{digest}; only sha256 is supported"),
        })?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(Error::BlobMismatch {
            digest: digest.to_string(),
            detail: "not a valid sha256 digest".into(),
        });
    }
    Ok(hex.to_string())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io_err("read", path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: format!("parse {}", path.display()),
        source,
    })
}

/// The manifests an OCI layout names: (descriptor, its name annotation).
/// Nested indexes are followed, keeping linux/amd64 entries.
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
                let hex = sha256_hex(descriptor.digest().as_ref())?;
                let nested: ImageIndex = read_json(&layout.join("blobs/sha256").join(hex))?;
                let chosen = nested.manifests().iter().find(|m| {
                    m.platform().as_ref().is_none_or(|p| {
                        p.os().to_string() == "linux" && p.architecture().to_string() == "amd64"
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

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn bombs_are_cut_off_by_ratio_and_big_layers_by_the_cap() {
        // Small layers may compress well; past 64 MiB only 100 times the compressed size.
        assert_eq!(unpacked_limit(1, 8 << 30), RATIO_FREE);
        assert_eq!(unpacked_limit(3 << 20, 8 << 30), 300 << 20);
        assert_eq!(unpacked_limit(1 << 30, 8 << 30), 8 << 30);
    }
}
