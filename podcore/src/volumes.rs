//! Files volumes (`configMap`, `secret`, `downwardAPI`, `projected`): their
//! files made from the pod's objects and facts, written as the kubelet's
//! atomic writer does, so a reader never sees half an update:
//!
//! ```text
//! <volume>/..2026_11_24_10_00_00.000000001/<files>   this version
//! <volume>/..data -> ..2026_11_24_10_00_00.000000001  swapped by rename(2)
//! <volume>/<top-level name> -> ..data/<top-level name>
//! ```
//! Made when the sandbox is, and again when `podctl apply` changes an
//! object a volume shows.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use crate::downward::{self, PodFacts};
use crate::fsutil::PathError;
use crate::objects::{Object, ObjectError, Objects};
use crate::pod::{PodPaths, PodRecord};
use crate::spec::{PodSpec, Projection, VolumeSource};

/// A volume's files: relative path to content and mode.
pub type Files = BTreeMap<String, (Vec<u8>, u32)>;

/// Why a volume's files cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {volume}: {} {name:?} not found: create it (podctl create or apply) or mark it optional", .kind.to_string().to_lowercase())]
    NotFound {
        volume: String,
        kind: crate::objects::Kind,
        name: String,
    },
    #[error("volume {volume}: {kind} {name:?} has no key {key:?}")]
    NoKey {
        volume: String,
        kind: crate::objects::Kind,
        name: String,
        key: String,
    },
    #[error("volume {volume}: {source}")]
    Downward {
        volume: String,
        #[source]
        source: downward::DownwardError,
    },
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Io(#[from] PathError),
}

/// The files of the files volume `volume` of `pod`.
pub fn files(
    volume: &str,
    sources: &[Projection],
    default_mode: u32,
    pod: &PodSpec,
    facts: &PodFacts,
    objects: &Objects,
) -> Result<Files, VolumeError> {
    let mut files = Files::new();
    for source in sources {
        match source {
            Projection::Object { object, items } => {
                let found = objects.get(object.kind, &pod.namespace, &object.name)?;
                let Some(found) = found else {
                    if object.optional {
                        continue;
                    }
                    return Err(VolumeError::NotFound {
                        volume: volume.into(),
                        kind: object.kind,
                        name: object.name.clone(),
                    });
                };
                if items.is_empty() {
                    for (key, bytes) in &found.data {
                        files.insert(key.clone(), (bytes.clone(), default_mode));
                    }
                }
                for item in items {
                    match found.data.get(&item.key) {
                        Some(bytes) => {
                            let mode = item.mode.unwrap_or(default_mode);
                            files.insert(item.path.clone(), (bytes.clone(), mode));
                        }
                        None if object.optional => {}
                        None => {
                            return Err(VolumeError::NoKey {
                                volume: volume.into(),
                                kind: object.kind,
                                name: object.name.clone(),
                                key: item.key.clone(),
                            });
                        }
                    }
                }
            }
            Projection::Downward(items) => {
                for item in items {
                    let value = downward::value(&item.field, pod, facts).map_err(|source| {
                        VolumeError::Downward {
                            volume: volume.into(),
                            source,
                        }
                    })?;
                    let mode = item.mode.unwrap_or(default_mode);
                    files.insert(item.path.clone(), (value.into_bytes(), mode));
                }
            }
        }
    }
    Ok(files)
}

/// Write `files` into the volume folder `dir` as one new version, then swap
/// `..data` to it and remove the old one. With `fs_group` the files belong
/// to that group, readable by it (as the kubelet's volume ownership).
pub fn write(dir: &Path, files: &Files, fs_group: Option<u32>) -> Result<(), PathError> {
    std::fs::create_dir_all(dir).map_err(PathError::at("create", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(PathError::at("chmod", dir))?;
    let data = dir.join("..data");
    let old = std::fs::read_link(&data).ok();
    let stamp = chrono::Utc::now().format("..%Y_%m_%d_%H_%M_%S.%f");
    let version = dir.join(stamp.to_string());
    std::fs::create_dir(&version).map_err(PathError::at("create", &version))?;
    for (path, (bytes, mode)) in files {
        // Checked when the manifest was read; checked again as it names a file.
        if Path::new(path)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let file = version.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(PathError::at("create", parent))?;
        }
        std::fs::write(&file, bytes).map_err(PathError::at("write", &file))?;
        let mode = if fs_group.is_some() {
            mode | 0o440
        } else {
            *mode
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
            .map_err(PathError::at("chmod", &file))?;
        if let Some(group) = fs_group {
            std::os::unix::fs::chown(&file, None, Some(group))
                .map_err(PathError::at("chown", &file))?;
        }
    }
    let next = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&next);
    let target = version.file_name().expect("a version has a name");
    std::os::unix::fs::symlink(target, &next).map_err(PathError::at("link", &next))?;
    std::fs::rename(&next, &data).map_err(PathError::at("swap", &data))?;
    // The names at the top: one link each into ..data; those gone are removed.
    let top: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link)
                .map_err(PathError::at("link", &link))?;
        }
    }
    for entry in std::fs::read_dir(dir).map_err(PathError::at("read", dir))? {
        let entry = entry.map_err(PathError::at("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !top.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

/// Make every files volume of the pod (the sandbox's step).
pub fn prepare(record: &PodRecord, paths: &PodPaths, facts: &PodFacts) -> Result<(), VolumeError> {
    let objects = Objects::new(&paths.root);
    for volume in &record.spec.volumes {
        if let VolumeSource::Files {
            sources,
            default_mode,
            ..
        } = &volume.source
        {
            let files = files(
                &volume.name,
                sources,
                *default_mode,
                &record.spec,
                facts,
                &objects,
            )?;
            write(&paths.volume(&volume.name), &files, record.spec.fs_group)?;
        }
    }
    Ok(())
}

/// Whether a files volume shows `object`.
fn shows(source: &VolumeSource, object: &Object) -> bool {
    matches!(source, VolumeSource::Files { sources, .. } if sources.iter().any(|s| matches!(
        s,
        Projection::Object { object: r, .. } if r.kind == object.kind && r.name == object.name
    )))
}

/// Give every pod of the root whose volumes show `object` its data now; the
/// pods (`namespace/name`) whose volumes could not be rewritten, and why.
pub fn refresh(root: &Path, object: &Object) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    for entry in crate::pod::list(root) {
        if entry.namespace != object.namespace {
            continue;
        }
        let paths = PodPaths::new(root, &entry.uid);
        let Ok(record) = crate::pod::read_json::<PodRecord>(&paths.record()) else {
            continue;
        };
        if !record.spec.volumes.iter().any(|v| shows(&v.source, object)) {
            continue;
        }
        let status = crate::supervisor::observed_status(&paths);
        let ips = status
            .as_ref()
            .map(|s| s.pod_ips.clone())
            .unwrap_or_default();
        let host = status.as_ref().and_then(|s| s.host_ip.clone());
        let facts = PodFacts::of(&record, &ips, host.as_deref());
        if let Err(error) = prepare(&record, &paths, &facts) {
            failed.push((
                format!("{}/{}", entry.namespace, entry.name),
                error.to_string(),
            ));
        }
    }
    failed
}

/// The objects a pod's volumes need that are missing (not optional), as
/// errors naming each volume: checked before the pod is made.
pub fn missing_objects(pod: &PodSpec, objects: &Objects) -> Vec<VolumeError> {
    let mut missing = Vec::new();
    for volume in &pod.volumes {
        let VolumeSource::Files { sources, .. } = &volume.source else {
            continue;
        };
        for source in sources {
            if let Projection::Object { object, .. } = source
                && !object.optional
                && objects
                    .get(object.kind, &pod.namespace, &object.name)
                    .is_ok_and(|o| o.is_none())
            {
                missing.push(VolumeError::NotFound {
                    volume: volume.name.clone(),
                    kind: object.kind,
                    name: object.name.clone(),
                });
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn versions_swap_atomically_and_old_names_go() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("v");
        let mut files = Files::new();
        files.insert("mode".into(), (b"fast".to_vec(), 0o644));
        files.insert("conf/app.ini".into(), (b"[a]".to_vec(), 0o600));
        write(&volume, &files, None).unwrap();
        assert_eq!(read(&volume, "mode"), "fast");
        assert_eq!(read(&volume, "conf/app.ini"), "[a]");
        let first = std::fs::read_link(volume.join("..data")).unwrap();
        let mode = std::fs::metadata(volume.join("conf/app.ini"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_link(volume.join("mode")).unwrap(),
            Path::new("..data/mode")
        );
        files.remove("conf/app.ini");
        files.insert("mode".into(), (b"slow".to_vec(), 0o644));
        write(&volume, &files, None).unwrap();
        assert_eq!(read(&volume, "mode"), "slow");
        assert!(std::fs::symlink_metadata(volume.join("conf")).is_err());
        assert!(!volume.join(first).exists(), "the old version is removed");
        let names: BTreeSet<String> = std::fs::read_dir(&volume)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..2"))
            .collect();
        assert_eq!(names, ["..data", "mode"].map(String::from).into());
    }
}
