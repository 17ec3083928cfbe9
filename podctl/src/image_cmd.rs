//! `podctl image ...`: import, list, inspect and remove local images.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use podcore::image::{Reference, Store};

use crate::output;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Import an OCI image layout folder or an OCI archive (tar of a layout).
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
    /// List images: NAME, TAG, DIGEST, SIZE, CREATED.
    ///
    /// Example: podctl image ls -o json
    #[command(alias = "list")]
    Ls {
        /// Output format: table (default) or json.
        #[arg(short, long, default_value = "table")]
        output: String,
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

pub fn run(root: &std::path::Path, store: &Store, command: ImageCommand) -> anyhow::Result<()> {
    match command {
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
        ImageCommand::Ls { output: format } => {
            let images = store.list().context("list images")?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&images)?),
                "table" => {
                    let now = chrono::Utc::now();
                    let rows: Vec<Vec<String>> = images
                        .iter()
                        .map(|image| {
                            let created = image
                                .created
                                .as_deref()
                                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                                .map(|c| {
                                    format!(
                                        "{} ago",
                                        output::age(c.with_timezone(&chrono::Utc), now)
                                    )
                                })
                                .unwrap_or_else(|| "unknown".into());
                            vec![
                                image.reference.name.clone(),
                                image.reference.tag.clone(),
                                image
                                    .digest
                                    .trim_start_matches("sha256:")
                                    .chars()
                                    .take(12)
                                    .collect(),
                                bytesize::ByteSize(image.size).to_string(),
                                created,
                            ]
                        })
                        .collect();
                    output::table(&["NAME", "TAG", "DIGEST", "SIZE", "CREATED"], &rows)?;
                }
                other => anyhow::bail!("unknown output format {other:?}: use table or json"),
            }
            Ok(())
        }
        ImageCommand::Rm { references } => {
            for reference in references {
                let users = pods_using(root, &reference);
                let removed = store
                    .remove(&reference, &users)
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

/// Names of the pods whose containers use the image `reference`.
fn pods_using(root: &std::path::Path, reference: &str) -> Vec<String> {
    let Ok(wanted) = Reference::parse(reference) else {
        return Vec::new();
    };
    podcore::pod::list(root)
        .into_iter()
        .filter(|entry| {
            let paths = podcore::pod::PodPaths::new(root, &entry.uid);
            podcore::pod::read_json::<podcore::pod::PodRecord>(&paths.record()).is_ok_and(
                |record| {
                    record
                        .images
                        .values()
                        .any(|image| image.reference == wanted.to_string())
                },
            )
        })
        .map(|entry| format!("{}/{}", entry.namespace, entry.name))
        .collect()
}
