//! `podctl apply -f MANIFEST`: store the manifest's ConfigMaps and Secrets
//! (created, configured or unchanged, as kubectl says), then run, detached,
//! each of its pods that does not exist yet. A pod that exists is left as it
//! is: a running pod's spec is not changed in place (delete it and apply again).

use std::path::PathBuf;

use crate::Globals;
use crate::commands::run as running;

/// `podctl apply` arguments.
#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The manifest, or - for standard input.
    #[arg(short, long)]
    file: PathBuf,
    /// Refuse fields Kubernetes does not know instead of ignoring them.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    pods: running::PodArgs,
}

pub fn run(globals: &Globals, args: ApplyArgs) -> anyhow::Result<()> {
    let manifest = running::read_manifest(&args.file, args.strict)?;
    for warning in &manifest.warnings {
        eprintln!("warning: {warning}");
    }
    let options = args.pods.options(&globals.registries);
    let (existing, new): (Vec<_>, Vec<_>) = manifest
        .pods
        .into_iter()
        .partition(|p| podcore::pod::find(&globals.root, &p.pod.namespace, &p.pod.name).is_ok());
    running::check_pods(&new, &options)?;
    for (object, change) in running::store_objects(&globals.root, &manifest.objects)? {
        println!("{} {change}", object.display_name());
        if change == podcore::objects::Change::Configured {
            refresh_volumes(globals, &object);
        }
    }
    running::check_volume_objects(&globals.root, &new)?;
    for p in &existing {
        eprintln!(
            "warning: pod/{} exists and is left as it is: podctl does not change a running pod (delete it and apply again)",
            p.pod.name
        );
    }
    running::start_pods(globals, &options, new, |name| {
        println!("pod/{name} created")
    })?;
    Ok(())
}

/// Give the pods whose volumes show `object` its new data now (the kubelet
/// does within a minute), each volume swapped atomically.
fn refresh_volumes(globals: &Globals, object: &podcore::objects::Object) {
    for (pod, error) in podcore::volumes::refresh(&globals.root, object) {
        eprintln!(
            "warning: pod {pod}: its volumes of {}: {error}",
            object.display_name()
        );
    }
}
