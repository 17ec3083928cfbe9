//! `podctl image ...`: pull, push, import, list, inspect and remove images;
//! `podctl login` and `logout`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use podcore::image::{Reference, Store};

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

pub fn run(
    root: &std::path::Path,
    store: &Store,
    registries: &crate::RegistryArgs,
    command: ImageCommand,
) -> anyhow::Result<()> {
    match command {
        ImageCommand::Pull { reference } => {
            let (image, timings) = registries
                .registry()?
                .pull(store, &reference)
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
        ImageCommand::Push { source, target } => {
            let digest = registries
                .registry()?
                .push(store, &source, target.as_deref())
                .map_err(anyhow::Error::from)?;
            println!("{}\t{digest}", target.unwrap_or(source));
            Ok(())
        }
        ImageCommand::Prune { all } => {
            let in_use: Vec<String> = podcore::pod::list(root)
                .into_iter()
                .filter_map(|entry| {
                    let paths = podcore::pod::PodPaths::new(root, &entry.uid);
                    podcore::pod::read_json::<podcore::pod::PodRecord>(&paths.record()).ok()
                })
                .flat_map(|record| {
                    record
                        .images
                        .into_values()
                        .map(|i| i.reference)
                        .chain([record.pause.reference])
                })
                .collect();
            let (removed, freed) = store.prune(&in_use, all).context("prune images")?;
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
                                if image.reference.tag.is_empty() {
                                    "<none>".into()
                                } else {
                                    image.reference.tag.clone()
                                },
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
                    output::table(&["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"], &rows)?;
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

/// `podctl login`: check the credential against the registry, then store it.
pub fn login(
    registries: &crate::RegistryArgs,
    server: &str,
    username: String,
    password: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let password = match (password, password_stdin) {
        (Some(_), true) => anyhow::bail!("give --password or --password-stdin, not both"),
        (Some(p), false) => p,
        (None, true) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("read the password from stdin")?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => anyhow::bail!("no password: give --password-stdin (or --password)"),
    };
    let credential = podcore::image::registry::Credential { username, password };
    registries
        .registry()?
        .check_login(server, &credential)
        .map_err(anyhow::Error::from)?;
    let file = podcore::image::registry::config::store_credential(server, Some(&credential))
        .map_err(anyhow::Error::msg)?;
    println!("Login Succeeded (credential stored in {})", file.display());
    Ok(())
}

/// `podctl logout`.
pub fn logout(server: &str) -> anyhow::Result<()> {
    let file = podcore::image::registry::config::store_credential(server, None)
        .map_err(anyhow::Error::msg)?;
    println!(
        "Removed login credentials for {server} from {}",
        file.display()
    );
    Ok(())
}
