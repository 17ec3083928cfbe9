//! Pack a root filesystem folder as an OCI image layout (image-spec 1.1).
//!
//! The result is reproducible: entries sorted by name, every mtime 0, owner
//! and group 0, no gzip timestamp, so the same folder always gives the same
//! layer, config and manifest digests.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, Os, PlatformBuilder,
    RootFsBuilder, Sha256Digest,
};
use sha2::{Digest as _, Sha256};

use crate::{Error, IoContext, Result};

/// The `PATH` an image gets when its config names none (Docker's default).
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The annotation OCI layouts use to name an image (the tag, by convention).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd uses for an image's full name (`name:tag`).
pub const IMAGE_NAME: &str = "io.containerd.image.name";

/// The image's name and its runtime defaults (the config's `config` section).
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub name: String,
    pub tag: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// What [`pack`] wrote.
#[derive(Debug, Clone)]
pub struct PackedImage {
    /// `sha256:...` of the manifest: the image's identity.
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    /// `sha256:...` of the uncompressed layer tar.
    pub diff_id: String,
    /// Bytes of all blobs (manifest, config, layer).
    pub size: u64,
}

/// Pack `rootfs` as a one-layer OCI image layout at `out` (replaced if present).
pub fn pack(rootfs: &Path, out: &Path, config: &ImageConfig) -> Result<PackedImage> {
    if out.exists() {
        std::fs::remove_dir_all(out).ctx("remove old layout", out)?;
    }
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).ctx("create", &blobs)?;

    let (layer_digest, layer_size, diff_id) = write_layer(rootfs, &blobs)?;

    let mut exec = ConfigBuilder::default()
        .env(config.env.clone())
        .working_dir(config.working_dir.clone());
    if !config.entrypoint.is_empty() {
        exec = exec.entrypoint(config.entrypoint.clone());
    }
    if !config.cmd.is_empty() {
        exec = exec.cmd(config.cmd.clone());
    }
    if !config.user.is_empty() {
        exec = exec.user(config.user.clone());
    }
    let image_config = ImageConfigurationBuilder::default()
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(exec.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.clone()])
                .build()?,
        )
        .build()?;
    let (config_digest, config_size) = write_json_blob(&blobs, &image_config)?;

    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            config_size,
            &config_digest,
        )?)
        .layers(vec![descriptor(
            MediaType::ImageLayerGzip,
            layer_size,
            &layer_digest,
        )?])
        .build()?;
    let (manifest_digest, manifest_size) = write_json_blob(&blobs, &manifest)?;

    let mut manifest_descriptor =
        descriptor(MediaType::ImageManifest, manifest_size, &manifest_digest)?;
    manifest_descriptor.set_annotations(Some(HashMap::from([
        (REF_NAME.to_string(), config.tag.clone()),
        (
            IMAGE_NAME.to_string(),
            format!("{}:{}", config.name, config.tag),
        ),
    ])));
    manifest_descriptor.set_platform(Some(
        PlatformBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .build()?,
    ));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest_descriptor])
        .build()?;
    // Through `Value` so that annotation keys come out sorted, not in HashMap order.
    write_file(
        &out.join("index.json"),
        &serde_json::to_vec(&serde_json::to_value(&index)?)?,
    )?;
    let oci_layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    write_file(&out.join("oci-layout"), &serde_json::to_vec(&oci_layout)?)?;

    Ok(PackedImage {
        manifest_digest,
        config_digest,
        layer_digest,
        diff_id,
        size: layer_size + config_size + manifest_size,
    })
}

fn descriptor(media_type: MediaType, size: u64, digest: &str) -> Result<Descriptor> {
    let digest: Sha256Digest = digest.trim_start_matches("sha256:").parse()?;
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .size(size)
        .digest(digest)
        .build()?)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).ctx("write", path)
}

fn write_json_blob(blobs: &Path, value: &impl serde::Serialize) -> Result<(String, u64)> {
    let bytes = serde_json::to_vec(value)?;
    let hex = hex::encode(Sha256::digest(&bytes));
    write_file(&blobs.join(&hex), &bytes)?;
    Ok((format!("sha256:{hex}"), bytes.len() as u64))
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

/// Write the gzip tar layer of `rootfs` into `blobs`; returns (digest, size, diff id).
fn write_layer(rootfs: &Path, blobs: &Path) -> Result<(String, u64, String)> {
    let temp = blobs.join(".layer.tmp");
    let file = File::create(&temp).ctx("create", &temp)?;
    let compressed = Hashing::new(BufWriter::new(file));
    let gzip = GzBuilder::new().write(compressed, Compression::best());
    let mut builder = tar::Builder::new(Hashing::new(gzip));
    builder.follow_symlinks(false);
    append_tree(&mut builder, rootfs)?;
    let uncompressed = builder.into_inner().ctx("finish tar of", rootfs)?;
    let diff_id = format!("sha256:{}", hex::encode(uncompressed.hasher.finalize()));
    let mut compressed = uncompressed.inner.finish().ctx("finish gzip of", rootfs)?;
    compressed.flush().ctx("flush", &temp)?;
    let hex = hex::encode(compressed.hasher.finalize());
    let size = compressed.count;
    std::fs::rename(&temp, blobs.join(&hex)).ctx("rename", &temp)?;
    Ok((format!("sha256:{hex}"), size, diff_id))
}

fn append_tree<W: Write>(builder: &mut tar::Builder<W>, rootfs: &Path) -> Result<()> {
    // First path seen for each inode with several links: later ones become hard links.
    let mut seen: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let walker = walkdir::WalkDir::new(rootfs)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walker {
        let entry = entry.map_err(|e| Error::Io {
            context: "walk",
            path: e.path().unwrap_or(rootfs).to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("filesystem loop")),
        })?;
        let path = entry.path();
        let name = path
            .strip_prefix(rootfs)
            .expect("walkdir yields paths below its root");
        let meta = entry.metadata().map_err(|e| Error::Io {
            context: "stat",
            path: path.to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("stat failed")),
        })?;
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        let kind = meta.file_type();
        let appended = if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            builder.append_data(&mut header, name, io::empty())
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).ctx("read link", path)?;
            header.set_entry_type(tar::EntryType::Symlink);
            builder.append_link(&mut header, name, target)
        } else if kind.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = seen.get(&key) {
                    header.set_entry_type(tar::EntryType::Link);
                    builder
                        .append_link(&mut header, name, first)
                        .ctx("append to layer", path)?;
                    continue;
                }
                seen.insert(key, name.to_path_buf());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(path).ctx("open", path)?;
            builder.append_data(&mut header, name, file)
        } else if kind.is_char_device() || kind.is_block_device() {
            header.set_entry_type(if kind.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            let rdev = meta.rdev();
            let (major, minor) = (nix_major(rdev), nix_minor(rdev));
            header
                .set_device_major(major)
                .ctx("set device major of", path)?;
            header
                .set_device_minor(minor)
                .ctx("set device minor of", path)?;
            builder.append_data(&mut header, name, io::empty())
        } else if kind.is_fifo() {
            header.set_entry_type(tar::EntryType::Fifo);
            builder.append_data(&mut header, name, io::empty())
        } else {
            return Err(Error::UnsupportedFile(path.to_path_buf()));
        };
        appended.ctx("append to layer", path)?;
    }
    Ok(())
}

/// glibc's `major()` for a Linux `dev_t`.
fn nix_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

/// glibc's `minor()` for a Linux `dev_t`.
fn nix_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_like_glibc() {
        fn makedev(major: u64, minor: u64) -> u64 {
            ((major & 0xfff) << 8)
                | ((major & !0xfff) << 32)
                | (minor & 0xff)
                | ((minor & !0xff) << 12)
        }
        assert_eq!((nix_major(makedev(1, 3)), nix_minor(makedev(1, 3))), (1, 3));
        let dev = makedev(259, 70000);
        assert_eq!((nix_major(dev), nix_minor(dev)), (259, 70000));
    }

    #[test]
    fn packing_twice_gives_the_same_digests() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("tree");
        std::fs::create_dir_all(tree.join("etc/sub")).unwrap();
        std::fs::write(tree.join("etc/a"), "alpha").unwrap();
        std::fs::hard_link(tree.join("etc/a"), tree.join("etc/sub/b")).unwrap();
        std::os::unix::fs::symlink("/etc/a", tree.join("link")).unwrap();
        let config = ImageConfig {
            name: "t".into(),
            tag: "1".into(),
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec![DEFAULT_PATH_ENV.into()],
            working_dir: "/".into(),
            user: String::new(),
        };
        let first = pack(&tree, &root.path().join("one"), &config).unwrap();
        // Touch the files: mtimes must not leak into the digests.
        std::fs::write(tree.join("etc/a"), "alpha").unwrap();
        let second = pack(&tree, &root.path().join("two"), &config).unwrap();
        assert_eq!(first.manifest_digest, second.manifest_digest);
        assert_eq!(first.layer_digest, second.layer_digest);
        assert_eq!(first.diff_id, second.diff_id);
        let layer = std::fs::read(
            root.path()
                .join("one/blobs/sha256")
                .join(first.layer_digest.trim_start_matches("sha256:")),
        )
        .unwrap();
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(&layer))),
            first.layer_digest
        );
    }
}
