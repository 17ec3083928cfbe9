//! `podctl internal ...`: work a pod's supervisor hands to podctl, so that
//! the supervisor (one per pod, for the pod's whole life) does not link the
//! registry client, the layer unpacker or the manifest reader. Not for people.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use podcore::image::Store;

use crate::Globals;
use crate::registries::RegistryArgs;

#[derive(Subcommand)]
pub enum InternalCommand {
    /// Print what a pod gets of an image (unpacked layer folders and run
    /// defaults) as JSON; `--pull` pulls it first.
    ResolveImage {
        image: String,
        #[arg(long)]
        pull: bool,
    },
    /// Check a Kubernetes container object (JSON on stdin) as part of pod
    /// UID's manifest and resolve its image (by its imagePullPolicy); print
    /// the pod's new spec and the image as JSON.
    AddContainer { uid: String },
    /// One gRPC health check in a pod's network (a `grpc` probe); exit 0
    /// when SERVING.
    GrpcProbe(super::grpc_probe::GrpcProbeArgs),
}

pub fn run(globals: &Globals, command: InternalCommand) -> anyhow::Result<()> {
    let (root, registries) = (&globals.root, &globals.registries);
    match command {
        // A probe runs every few seconds: it touches nothing but the pod's network.
        InternalCommand::GrpcProbe(args) => return super::grpc_probe::run(args),
        InternalCommand::ResolveImage { image, pull } => {
            let store = &globals.store()?;
            if pull {
                quiet(registries)?
                    .pull(store, &image)
                    .map_err(anyhow::Error::from)?;
            }
            let resolved = resolve(store, &image)?;
            println!("{}", serde_json::to_string(&resolved)?);
        }
        InternalCommand::AddContainer { uid } => {
            let store = &globals.store()?;
            let paths = podcore::pod::PodPaths::new(root, &uid);
            let record: podcore::pod::PodRecord =
                podcore::pod::read_json(&paths.record()).context("read the pod's record")?;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("read the container")?;
            let container: serde_json::Value =
                serde_json::from_str(&text).context("the container is not JSON")?;
            let spec = podcore::spec::with_container(&record.spec, container)?;
            podcore::runtime::check_permitted(&spec, &record.options)?;
            let new = spec
                .containers
                .last()
                .cloned()
                .context("no container was given")?;
            let present = store.resolve(&new.image).is_ok();
            use podcore::image::registry::{PullDecision, pull_decision};
            match pull_decision(&new.image_pull_policy, &new.image, present) {
                PullDecision::UseLocal => {}
                PullDecision::NeverPull => anyhow::bail!(
                    "image {} is not present and imagePullPolicy is Never (ErrImageNeverPull)",
                    new.image
                ),
                PullDecision::Pull => {
                    quiet(registries)?
                        .pull(store, &new.image)
                        .map_err(anyhow::Error::from)
                        .context("ErrImagePull")?;
                }
            }
            let image = resolve(store, &new.image)?;
            println!(
                "{}",
                serde_json::to_string(&serde_json::json!({"spec": spec, "image": image}))?
            );
        }
    }
    Ok(())
}

fn quiet(registries: &RegistryArgs) -> anyhow::Result<podcore::image::registry::Registry> {
    registries.registry_showing(std::sync::Arc::new(podcore::image::registry::Quiet))
}

fn resolve(store: &Store, image: &str) -> anyhow::Result<podcore::pod::ResolvedImage> {
    let stored = store.resolve(image)?;
    Ok(podcore::runtime::resolved(store, &stored)?)
}
