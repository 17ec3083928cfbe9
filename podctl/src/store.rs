//! The local image store as podctl opens it: with the pause image in it.

use std::path::{Path, PathBuf};

use podcore::image::Store;

/// Open the image store, giving a fresh one the pause image.
pub fn open(root: &Path) -> anyhow::Result<Store> {
    let store = Store::open(root).map_err(anyhow::Error::from)?;
    match pause_binary() {
        Some(binary) => {
            store.ensure_pause(&binary)?;
        }
        None => tracing::warn!(
            "no pause binary found (PODCTL_PAUSE, beside podctl, /usr/libexec/podctl): the pause image is not in the store"
        ),
    }
    Ok(store)
}

/// The static pause binary: `PODCTL_PAUSE`, else beside podctl, else the
/// usual install folders.
fn pause_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PODCTL_PAUSE") {
        return Some(PathBuf::from(path));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("pause")));
    beside
        .into_iter()
        .chain(
            [
                "/usr/libexec/podctl/pause",
                "/usr/local/libexec/podctl/pause",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}
