//! `rootfs-tools`: build the project's images from the command line
//! (`cargo xtask images` runs it).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rootfs_tools::{ImageConfig, PackedImage, busybox, layout};

#[derive(Parser)]
#[command(
    version,
    about = "Build root filesystems and pack them as OCI image layouts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a busybox root filesystem from Debian's busybox-static and pack it.
    Busybox {
        /// Where to write the OCI image layout.
        #[arg(long)]
        out: PathBuf,
        /// Keep the unpacked root filesystem here (default: a temporary folder).
        #[arg(long)]
        rootfs: Option<PathBuf>,
        /// Where the busybox-static .deb is downloaded and unpacked.
        #[arg(long, default_value = "target/cache")]
        cache: PathBuf,
        /// Take busybox from busybox-static's .deb even when the host's is static.
        #[arg(long)]
        from_deb: bool,
    },
    /// Pack the static pause binary as the pause image (one file, /pause).
    Pause {
        #[arg(long)]
        binary: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Pack any root filesystem folder as a one-layer OCI image layout.
    Pack {
        rootfs: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Image name and tag, NAME[:TAG].
        #[arg(long)]
        name: String,
        /// The config's Entrypoint (repeat for several words).
        #[arg(long)]
        entrypoint: Vec<String>,
        /// The config's Cmd (repeat for several words).
        #[arg(long)]
        cmd: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (out, packed) = match cli.command {
        Command::Busybox {
            out,
            rootfs,
            cache,
            from_deb,
        } => {
            let binary =
                busybox::find_static_busybox(&cache, from_deb).context("find a static busybox")?;
            let temp;
            let tree = match rootfs {
                Some(dir) => {
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .with_context(|| format!("remove {}", dir.display()))?;
                    }
                    dir
                }
                None => {
                    temp = tempfile::tempdir().context("create a temporary folder")?;
                    temp.path().join("rootfs")
                }
            };
            busybox::build_rootfs(&binary, &tree).context("lay out the busybox root filesystem")?;
            let config = ImageConfig {
                name: "busybox".into(),
                tag: "latest".into(),
                entrypoint: vec![],
                cmd: vec!["sh".into()],
                env: vec![layout::DEFAULT_PATH_ENV.into()],
                working_dir: "/".into(),
                user: String::new(),
            };
            let packed =
                rootfs_tools::pack(&tree, &out, &config).context("pack the busybox image")?;
            (out, packed)
        }
        Command::Pause { binary, out } => {
            let packed =
                rootfs_tools::pause_image(&binary, &out).context("pack the pause image")?;
            (out, packed)
        }
        Command::Pack {
            rootfs,
            out,
            name,
            entrypoint,
            cmd,
        } => {
            let (name, tag) = name
                .rsplit_once(':')
                .map_or((name.as_str(), "latest"), |(n, t)| (n, t));
            let config = ImageConfig {
                name: name.into(),
                tag: tag.into(),
                entrypoint,
                cmd,
                env: vec![layout::DEFAULT_PATH_ENV.into()],
                working_dir: "/".into(),
                user: String::new(),
            };
            let packed = rootfs_tools::pack(&rootfs, &out, &config).context("pack the image")?;
            (out, packed)
        }
    };
    report(&out, &packed);
    Ok(())
}

fn report(out: &std::path::Path, packed: &PackedImage) {
    println!(
        "{}\t{}\t{} bytes",
        out.display(),
        packed.manifest_digest,
        packed.size
    );
}
