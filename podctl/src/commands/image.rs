//! `podctl image ...`: pull, push, import, list, inspect and remove images;
//! `podctl login` and `logout`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use podcore::image::{Reference, Store};

use crate::Globals;
use crate::output;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Pull an image from its registry (mirrors first, see --registries-config).
    ///
    /// References are normalised as Docker does: busybox is
    /// docker.io/library/busybox:latest. Every blob is verified by digest and
    /// size before it enters the store; blobs the store holds are not fetched.
    ///
    /// Example: podctl image pull 127.0.0.1:5000/team/app:v1
    Pull {
        /// [HOST[:PORT]/]NAME[:TAG] or NAME@sha256:DIGEST
        reference: String,
    },
    /// Push a stored image to a registry, as TARGET or under its own name.
    ///
    /// Example: podctl image push busybox 127.0.0.1:5000/busybox:v1
    Push {
        /// The stored image, NAME[:TAG].
        source: String,
        /// Where to push it, HOST[:PORT]/NAME[:TAG].
        target: Option<String>,
    },
    /// Remove blobs and unpacked layers no image uses; with --all, also every
    /// image no pod uses (the pause image stays).
    ///
    /// Example: podctl image prune --all
    Prune {
        #[arg(short, long)]
        all: bool,
    },
    /// Import an OCI image layout folder, an OCI archive (tar of a layout) or a
    /// `docker save` / `podman save` archive.
    ///
    /// Every blob is checked against its digest and size; a mismatch imports
    /// nothing. A layout holding several named images imports each.
    ///
    /// Example: podctl image import target/images/busybox
    Import {
        /// The layout folder or archive.
        path: PathBuf,
        /// Name the image NAME[:TAG] (default: the layout's own name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List images: REPOSITORY, TAG, DIGEST, SIZE, CREATED.
    ///
    /// Example: podctl image ls -o json
    #[command(alias = "list")]
    Ls {
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListOutput,
    },
    /// Remove an image and the layers no other image uses (refused while a pod uses it).
    ///
    /// Example: podctl image rm busybox:latest
    #[command(alias = "remove")]
    Rm {
        /// NAME[:TAG]
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Unpack an image's layers into the shared layer cache now, instead of at
    /// its first use (as `ctr images unpack` does); prints the layer folders.
    ///
    /// Example: podctl image unpack busybox
    Unpack {
        /// NAME[:TAG]
        reference: String,
    },
    /// Print an image's config as JSON.
    ///
    /// Example: podctl image inspect busybox
    Inspect {
        /// NAME[:TAG]
        reference: String,
    },
}

/// `image ls -o`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListOutput {
    Table,
    Json,
}

pub fn run(globals: &Globals, command: ImageCommand) -> anyhow::Result<()> {
    let store = globals.store()?;
    let store = &store;
    match command {
        ImageCommand::Pull { reference } => pull(globals, store, &reference),
        ImageCommand::Push { source, target } => {
            let digest = globals
                .registries
                .registry()?
                .push(store, &source, target.as_deref())
                .map_err(anyhow::Error::from)?;
            println!("{}\t{digest}", target.unwrap_or(source));
            Ok(())
        }
        ImageCommand::Prune { all } => {
            let (removed, freed) = podcore::image_cleanup::prune_images(&globals.root, store, all)
                .context("prune images")?;
            for reference in removed {
                println!("Untagged: {reference}");
            }
            println!("Total reclaimed space: {}", bytesize::ByteSize(freed));
            Ok(())
        }
        ImageCommand::Import { path, name } => {
            let name = name
                .map(|n| Reference::parse(&n))
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--name")?;
            let imported = store
                .import(&path, name.as_ref())
                .with_context(|| format!("import {}", path.display()))?;
            for image in imported {
                println!("{}\t{}", image.reference, image.digest);
            }
            Ok(())
        }
        ImageCommand::Ls { output } => list(store, output),
        ImageCommand::Rm { references } => {
            for reference in references {
                let removed =
                    podcore::image_cleanup::remove_image(&globals.root, store, &reference)
                        .with_context(|| format!("remove image {reference}"))?;
                println!("Untagged: {removed}");
            }
            Ok(())
        }
        ImageCommand::Unpack { reference } => {
            let image = store
                .resolve(&reference)
                .with_context(|| format!("unpack image {reference}"))?;
            for dir in store
                .layer_dirs(&image)
                .with_context(|| format!("unpack image {reference}"))?
            {
                println!("{}", dir.display());
            }
            Ok(())
        }
        ImageCommand::Inspect { reference } => {
            let image = store
                .resolve(&reference)
                .with_context(|| format!("inspect image {reference}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&store.config_json(&image)?)?
            );
            Ok(())
        }
    }
}

/// `podctl image pull`.
fn pull(globals: &Globals, store: &Store, reference: &str) -> anyhow::Result<()> {
    let (image, timings) = globals
        .registries
        .registry()?
        .pull(store, reference)
        .map_err(anyhow::Error::from)?;
    tracing::debug!(
        "pull {reference}: network (verified as it streamed) {:?}, {} bytes; import {:?}",
        timings.network,
        timings.downloaded,
        timings.import
    );
    println!("{}\t{}", image.reference, image.digest);
    Ok(())
}

/// `podctl image ls`.
fn list(store: &Store, output: ListOutput) -> anyhow::Result<()> {
    let images = store.list().context("list images")?;
    if let ListOutput::Json = output {
        println!("{}", serde_json::to_string_pretty(&images)?);
        return Ok(());
    }
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|image| {
            let created = image
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|c| format!("{} ago", output::age(c.with_timezone(&chrono::Utc), now)))
                .unwrap_or_else(|| "unknown".into());
            vec![
                image.reference.name.clone(),
                if image.reference.tag.is_empty() {
                    "<none>".into()
                } else {
                    image.reference.tag.clone()
                },
                podcore::image::Digest::parse(&image.digest)
                    .map_or_else(|_| image.digest.clone(), |d| d.short().to_string()),
                bytesize::ByteSize(image.size).to_string(),
                created,
            ]
        })
        .collect();
    output::table(&["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"], &rows)?;
    Ok(())
}
