//! Removing images from the store only when no pod uses them: the store
//! knows images, the pods' records know which they use.

use std::path::Path;

use crate::image::{Error, Reference, Store};

/// Remove the image `reference` and the layers no other image uses; refused
/// while a pod uses it.
pub fn remove_image(root: &Path, store: &Store, reference: &str) -> Result<Reference, Error> {
    let wanted = Reference::parse(reference).map_err(Error::BadReference)?;
    if let Some(pods) = crate::pod::image_users(root).remove(&wanted.to_string()) {
        return Err(Error::InUse {
            reference: wanted.to_string(),
            pods: pods.join(", "),
        });
    }
    store.remove(reference)
}

/// Remove what no image uses; with `all`, first every image no pod uses
/// (the pause image stays). Returns the names removed and the bytes freed.
pub fn prune_images(root: &Path, store: &Store, all: bool) -> Result<(Vec<Reference>, u64), Error> {
    let in_use: Vec<String> = crate::pod::image_users(root).into_keys().collect();
    store.prune(&in_use, all)
}
