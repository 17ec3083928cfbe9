//! The unpacked layer cache: each layer unpacked once, on first use, into a
//! folder named by its diff id (checked as it is unpacked), shared by every
//! image; decompression and the limits that stop decompression bombs.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, MediaType};
use sha2::{Digest as _, Sha256};

use super::{Digest, Error, Image, Result, Store, io_err, unpack};

impl Store {
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
            let dir = self
                .dir
                .join("layers/sha256")
                .join(Digest::parse(diff_id)?.hex());
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
        let blob = self.blob_path(&Digest::parse(&digest)?);
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

pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(super) fn layer_compression(layer: &Descriptor) -> Result<Compression> {
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
