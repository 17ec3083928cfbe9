//! A pod's volumes: unique DNS-label names, one source each (`emptyDir`,
//! `hostPath`, `configMap`, `secret`, `downwardAPI`, `projected`; none is
//! an emptyDir), absolute host paths, sizes as quantities, file paths
//! relative and without `..`, modes at most 0777.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1 as k8s;

use super::field::Field;
use super::model::{
    DownwardFile, FilesKind, HostPathType, KeyToPath, Projection, Volume, VolumeSource,
};
use super::names::is_dns_label;
use super::quantity;
use crate::objects::Kind;

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
    let files = [
        volume.config_map.is_some(),
        volume.secret.is_some(),
        volume.downward_api.is_some(),
        volume.projected.is_some(),
    ];
    let set = files.iter().filter(|s| **s).count()
        + usize::from(volume.empty_dir.is_some())
        + usize::from(volume.host_path.is_some());
    if set > 1 {
        at.error(
            "set only one source: emptyDir, hostPath, configMap, secret, downwardAPI or projected",
        );
        return None;
    }
    if files.contains(&true) {
        return files_source(volume, at);
    }
    match (&volume.empty_dir, &volume.host_path) {
        (Some(_), Some(_)) => unreachable!("counted above"),
        (_, Some(host)) => {
            if !host.path.starts_with('/') {
                at.at("hostPath.path")
                    .error(format!("{:?} must be an absolute path", host.path));
            }
            let kind = host.type_.as_deref().unwrap_or_default();
            let kind = kind.parse().unwrap_or_else(|_| {
                at.at("hostPath.type").error(format!(
                    "{kind:?} is not one of DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice"
                ));
                HostPathType::Unset
            });
            Some(VolumeSource::HostPath {
                path: host.path.clone(),
                kind,
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

/// A `configMap`, `secret`, `downwardAPI` or `projected` volume.
fn files_source(volume: &k8s::Volume, at: &Field) -> Option<VolumeSource> {
    let (kind, sources, default_mode) = if let Some(c) = &volume.config_map {
        let at = at.at("configMap");
        let object = object(
            Kind::ConfigMap,
            &c.name,
            c.optional,
            c.items.as_deref(),
            &at,
        )?;
        (
            FilesKind::ConfigMap,
            vec![object],
            mode(c.default_mode, &at.at("defaultMode")),
        )
    } else if let Some(s) = &volume.secret {
        let at = at.at("secret");
        let name = s.secret_name.clone().unwrap_or_default();
        let name_at = at.at("secretName");
        if name.is_empty() {
            name_at.error("required: name the Secret");
            return None;
        }
        let object = object(Kind::Secret, &name, s.optional, s.items.as_deref(), &at)?;
        (
            FilesKind::Secret,
            vec![object],
            mode(s.default_mode, &at.at("defaultMode")),
        )
    } else if let Some(d) = &volume.downward_api {
        let at = at.at("downwardAPI");
        let files = downward(d.items.as_deref().unwrap_or_default(), &at.at("items"));
        let mode = mode(d.default_mode, &at.at("defaultMode"));
        (
            FilesKind::DownwardApi,
            vec![Projection::Downward(files)],
            mode,
        )
    } else {
        let p = volume.projected.as_ref().expect("one files source is set");
        let at = at.at("projected");
        let mut sources = Vec::new();
        for (i, s) in p.sources.iter().flatten().enumerate() {
            let at = at.at("sources").item(i);
            let projection = match (&s.config_map, &s.secret, &s.downward_api) {
                (Some(c), None, None) => object(
                    Kind::ConfigMap,
                    &c.name,
                    c.optional,
                    c.items.as_deref(),
                    &at.at("configMap"),
                ),
                (None, Some(s), None) => object(
                    Kind::Secret,
                    &s.name,
                    s.optional,
                    s.items.as_deref(),
                    &at.at("secret"),
                ),
                (None, None, Some(d)) => Some(Projection::Downward(downward(
                    d.items.as_deref().unwrap_or_default(),
                    &at.at("downwardAPI.items"),
                ))),
                _ => {
                    at.error("set exactly one of configMap, secret and downwardAPI");
                    None
                }
            };
            sources.extend(projection);
        }
        (
            FilesKind::Projected,
            sources,
            mode(p.default_mode, &at.at("defaultMode")),
        )
    };
    Some(VolumeSource::Files {
        kind,
        sources,
        default_mode: default_mode.unwrap_or(DEFAULT_MODE),
    })
}

/// Files' mode when a volume sets none (0644).
const DEFAULT_MODE: u32 = 0o644;

/// A ConfigMap's or Secret's keys as files: all, or `items`.
fn object(
    kind: Kind,
    name: &str,
    optional: Option<bool>,
    items: Option<&[k8s::KeyToPath]>,
    at: &Field,
) -> Option<Projection> {
    let object = super::env::object_ref(kind, name, optional, at)?;
    let mut out = Vec::new();
    for (i, item) in items.unwrap_or_default().iter().enumerate() {
        let at = at.at("items").item(i);
        if !crate::objects::is_key(&item.key) {
            at.at("key")
                .error(format!("{:?} is not a valid key", item.key));
        }
        relative(&item.path, &at.at("path"));
        out.push(KeyToPath {
            key: item.key.clone(),
            path: item.path.clone(),
            mode: mode(item.mode, &at.at("mode")),
        });
    }
    Some(Projection::Object { object, items: out })
}

/// `downwardAPI` items: a path each, and a fieldRef or a resourceFieldRef
/// (whose `containerName` is required here).
fn downward(items: &[k8s::DownwardAPIVolumeFile], at: &Field) -> Vec<DownwardFile> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = at.item(i);
        relative(&item.path, &at.at("path"));
        let field = match (&item.field_ref, &item.resource_field_ref) {
            (Some(f), None) => {
                super::env::field_path(&f.field_path, true, &at.at("fieldRef.fieldPath"))
            }
            (None, Some(r)) => match r.container_name.clone().filter(|c| !c.is_empty()) {
                Some(owner) => super::env::resource(r, owner, &at.at("resourceFieldRef")),
                None => {
                    at.at("resourceFieldRef.containerName")
                        .error("required in a volume: name the container");
                    None
                }
            },
            _ => {
                at.error("set exactly one of fieldRef and resourceFieldRef");
                None
            }
        };
        if let Some(field) = field {
            out.push(DownwardFile {
                path: item.path.clone(),
                field,
                mode: mode(item.mode, &at.at("mode")),
            });
        }
    }
    out
}

/// A file path in a volume: relative, no `..`, not empty, no `..`-prefixed
/// first part (the kubelet keeps those names for itself).
fn relative(path: &str, at: &Field) {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|p| p == "..")
        || path.starts_with("..");
    if bad {
        at.error(format!(
            "{path:?} must be a relative path without '..' and not starting with '..'"
        ));
    }
}

/// A file mode: 0 to 0777.
fn mode(value: Option<i32>, at: &Field) -> Option<u32> {
    let value = value?;
    match u32::try_from(value) {
        Ok(m) if m <= 0o777 => Some(m),
        _ => {
            at.error(format!("{value} is not a file mode: use 0 to 0777 (511)"));
            None
        }
    }
}
