//! The local OCI image store.
//!
//! Images come in as OCI image layouts (folders), OCI archives (tars of a
//! layout), `docker save` archives ([`archive`]) or from registries
//! ([`registry`]). Every blob is checked against its descriptor's digest and size
//! before anything is recorded, so an import either lands whole or leaves
//! nothing. Layers are unpacked once, on first use, into a cache keyed by
//! diff id and shared by all images; a container's root filesystem is an
//! overlay of those folders (see [`overlay`]).
//!
//! One file a job: `store` (the store's folder, its lock, blobs and the
//! names it holds), `import` (layouts and archives in, every blob checked),
//! `layers` (the unpacked layer cache, decompression and its limits),
//! `unpack` (a layer's tar entries, safely), [`digest`], [`platform`] (which
//! entry of an index runs here) and [`pause`] (the pause image every store has).

pub mod archive;
pub mod digest;
mod import;
mod layers;
pub mod overlay;
pub mod pause;
pub mod platform;
pub mod reference;
pub mod registry;
mod store;
mod unpack;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde::{Deserialize, Serialize};

use crate::fsutil::PathError;

pub use digest::Digest;
pub use layers::DEFAULT_MAX_LAYER_SIZE;
pub use pause::pause_reference;
pub use platform::Platform;
pub use reference::Reference;

/// Manifests and configs larger than this are refused (they are JSON documents
/// of a few KiB; a huge one is an attack on memory).
const MAX_DOCUMENT: u64 = 4 << 20;

/// What can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] PathError),
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

/// A mapper for `map_err`: an I/O error while doing `context` to `path`.
fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io(PathError::new(context, path, source))
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
