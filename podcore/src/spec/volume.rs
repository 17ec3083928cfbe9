//! A pod's volumes: unique DNS-label names, one source each (`emptyDir`,
//! `hostPath`; none is an emptyDir), absolute host paths, sizes as quantities.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1 as k8s;

use super::field::Field;
use super::model::{Volume, VolumeSource};
use super::names::is_dns_label;
use super::quantity;

/// The pod's volumes (`at` is `spec.volumes`).
pub(super) fn volumes(list: &[k8s::Volume], at: &Field) -> Vec<Volume> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, volume) in list.iter().enumerate() {
        let at = at.item(i);
        if !is_dns_label(&volume.name) {
            at.at("name")
                .error(format!("{:?} must be a DNS-1123 label", volume.name));
        }
        if !names.insert(volume.name.clone()) {
            at.at("name")
                .error(format!("{:?} is declared twice", volume.name));
        }
        let Some(source) = source(volume, &at) else {
            continue;
        };
        out.push(Volume {
            name: volume.name.clone(),
            source,
        });
    }
    out
}

fn source(volume: &k8s::Volume, at: &Field) -> Option<VolumeSource> {
    match (&volume.empty_dir, &volume.host_path) {
        (Some(_), Some(_)) => {
            at.error("set only one of emptyDir and hostPath");
            None
        }
        (_, Some(host)) => {
            if !host.path.starts_with('/') {
                at.at("hostPath.path")
                    .error(format!("{:?} must be an absolute path", host.path));
            }
            Some(VolumeSource::HostPath {
                path: host.path.clone(),
            })
        }
        (Some(empty), None) => {
            let memory = match empty.medium.as_deref() {
                None | Some("") => false,
                Some("Memory") => true,
                Some(other) => {
                    at.at("emptyDir.medium")
                        .error(format!("{other:?} is not supported: use \"\" or Memory"));
                    false
                }
            };
            let size_limit = empty.size_limit.as_ref().and_then(|q| {
                quantity::memory_bytes(&q.0)
                    .map_err(|e| at.at("emptyDir.sizeLimit").error(e))
                    .ok()
            });
            Some(VolumeSource::EmptyDir { memory, size_limit })
        }
        // A volume with no source is an emptyDir.
        (None, None) => Some(VolumeSource::EmptyDir {
            memory: false,
            size_limit: None,
        }),
    }
}
