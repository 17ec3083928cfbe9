//! The pause image every store holds, packed from the static pause binary
//! when a store lacks it, named for this podctl's version.

use std::path::Path;

use super::{Reference, Result, Store, io_err};

/// The name the pause image has in every store.
pub fn pause_reference() -> Reference {
    Reference {
        name: "podctl/pause".into(),
        tag: env!("CARGO_PKG_VERSION").into(),
        digest: None,
    }
}

impl Store {
    /// Make sure the pause image is in the store, packing it from the static
    /// pause binary at `binary` when it is not (a fresh store needs no manual step).
    pub fn ensure_pause(&self, binary: &Path) -> Result<Reference> {
        let reference = pause_reference();
        if self
            .read_refs()?
            .images
            .contains_key(&reference.to_string())
        {
            return Ok(reference);
        }
        let staging = tempfile::tempdir_in(self.dir.join("tmp"))
            .map_err(io_err("create staging folder in", &self.dir))?;
        let layout = staging.path().join("pause");
        rootfs_tools::pause_image(binary, &layout)?;
        self.import(&layout, Some(&reference))?;
        Ok(reference)
    }
}
