//! Where images are pulled from and pushed to: the global registry options.

use std::path::PathBuf;
use std::sync::Arc;

use podcore::image::registry::{Progress, Registry, Settings};

use crate::output;

/// Where images are pulled from and pushed to.
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// Registry mirrors and plain-HTTP registries, in podman's registries.conf
    /// shape ([[registry]] prefix, [[registry.mirror]] location, insecure).
    #[arg(
        long,
        global = true,
        env = "PODCTL_REGISTRIES_CONFIG",
        default_value = podcore::image::registry::config::DEFAULT_CONFIG
    )]
    registries_config: PathBuf,
    /// A registry reached over plain HTTP (repeatable); loopback ones always are.
    #[arg(long, global = true)]
    insecure_registry: Vec<String>,
}

impl RegistryArgs {
    /// These settings as a pod's record keeps them.
    pub fn options(&self) -> podcore::pod::RegistryOptions {
        podcore::pod::RegistryOptions {
            config: self.registries_config.clone(),
            insecure: self.insecure_registry.clone(),
        }
    }

    /// A registry client with these settings and progress bars on a terminal.
    pub fn registry(&self) -> anyhow::Result<Registry> {
        self.registry_showing(Arc::new(output::BlobBars::new()))
    }

    /// A registry client with these settings, reporting to `progress`.
    pub fn registry_showing(&self, progress: Arc<dyn Progress>) -> anyhow::Result<Registry> {
        let mut settings = Settings::load(&self.registries_config).map_err(anyhow::Error::msg)?;
        settings
            .insecure
            .extend(self.insecure_registry.iter().cloned());
        Ok(Registry::new(settings, progress))
    }
}
