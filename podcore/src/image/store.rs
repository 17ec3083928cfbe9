//! The store's folder, its lock, its blobs and the names of the images it
//! holds (`refs.json`, written atomically); listing, resolving and removing.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{ImageConfiguration, ImageManifest};

use super::{
    Digest, Error, Image, ImageSummary, RefEntry, Reference, Refs, Result, Store, io_err,
    pause_reference,
};
use crate::fsutil::PathError;

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

    pub(super) fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::Io(PathError::new("lock", &path, e.into())))
    }

    /// Hard-link the stored blob `digest` to `target`; false when the store
    /// does not hold it (or it cannot be linked: then it is fetched again).
    pub fn link_blob(&self, digest: &str, target: &Path) -> bool {
        Digest::parse(digest)
            .is_ok_and(|digest| std::fs::hard_link(self.blob_path(&digest), target).is_ok())
    }

    /// A stored blob's bytes.
    pub fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(&Digest::parse(digest)?);
        std::fs::read(&path).map_err(io_err("read", &path))
    }

    pub(super) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    pub(super) fn read_refs(&self) -> Result<Refs> {
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

    pub(super) fn write_refs(&self, refs: &Refs) -> Result<()> {
        let path = self.dir.join("refs.json");
        let bytes = serde_json::to_vec_pretty(refs).map_err(|source| Error::Json {
            what: "encode refs".into(),
            source,
        })?;
        crate::fsutil::write_atomic(&path, &bytes).map_err(io_err("write", &path))
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

    pub(super) fn load(&self, reference: &Reference, entry: &RefEntry) -> Result<Image> {
        let manifest: ImageManifest = read_json(&self.blob_path(&Digest::parse(&entry.digest)?))?;
        let config: ImageConfiguration =
            read_json(&self.blob_path(&Digest::parse(manifest.config().digest().as_ref())?))?;
        Ok(Image {
            reference: reference.clone(),
            digest: entry.digest.clone(),
            manifest,
            config,
        })
    }

    /// The raw config JSON of an image, as stored.
    pub fn config_json(&self, image: &Image) -> Result<serde_json::Value> {
        read_json(&self.blob_path(&Digest::parse(image.manifest.config().digest().as_ref())?))
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

    pub(super) fn collect_garbage(&self, refs: &Refs) -> Result<()> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for (name, entry) in &refs.images {
            let reference = Reference::parse(name).map_err(Error::BadReference)?;
            let image = self.load(&reference, entry)?;
            blobs.insert(hex_of(&entry.digest)?);
            blobs.insert(hex_of(image.manifest.config().digest().as_ref())?);
            for layer in image.manifest.layers() {
                blobs.insert(hex_of(layer.digest().as_ref())?);
            }
            for diff_id in image.config.rootfs().diff_ids() {
                layers.insert(hex_of(diff_id)?);
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
}

/// Read a JSON document of the store.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io_err("read", path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: format!("parse {}", path.display()),
        source,
    })
}

/// The hex digits of the digest `text`: a blob's or a layer's file name.
fn hex_of(text: &str) -> Result<String> {
    Digest::parse(text).map(|d| d.hex().to_string())
}
