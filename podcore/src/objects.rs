//! ConfigMaps and Secrets on one host, as `podman kube play` keeps them:
//! read from the same manifest as the pods (or `podctl apply` /
//! `podctl create configmap|secret`), kept per namespace under the root,
//! and read when a container starts (its env) or its pod's sandbox is made
//! (its volumes).
//!
//! ```text
//! <root>/objects/<namespace>/configmap/<name>.json   mode 0644
//! <root>/objects/<namespace>/secret/<name>.json      mode 0600, folder 0700
//! ```
//! Each file is written atomically; values are kept as base64 so binary
//! data survives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::fsutil::PathError;

/// A ConfigMap or a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Self::ConfigMap => "configmap",
            Self::Secret => "secret",
        }
    }
}

/// A ConfigMap's or Secret's data: keys to bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    #[serde(with = "base64_values")]
    pub data: BTreeMap<String, Vec<u8>>,
}

impl Object {
    /// `kind/name` as kubectl prints it (`configmap/settings`).
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind.folder(), self.name)
    }
}

/// What storing an object did, as kubectl says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Change {
    Created,
    Configured,
    Unchanged,
}

/// Why an object could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("{kind} {namespace}/{name} is unreadable: {source}")]
    Corrupt {
        kind: Kind,
        namespace: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{kind} {name:?}: {why}")]
    Invalid {
        kind: Kind,
        name: String,
        why: String,
    },
}

/// The objects under a podctl root.
#[derive(Debug, Clone)]
pub struct Objects {
    dir: PathBuf,
}

impl Objects {
    /// The objects of the root `root` (nothing is created until one is stored).
    pub fn new(root: &Path) -> Self {
        Self {
            dir: root.join("objects"),
        }
    }

    /// An object's file; a name or namespace that is not a DNS name (`..`,
    /// `/`) is refused, as it would name a file elsewhere.
    fn file(&self, kind: Kind, namespace: &str, name: &str) -> Result<PathBuf, ObjectError> {
        if !is_subdomain(name) || !is_label(namespace) {
            return Err(ObjectError::Invalid {
                kind,
                name: name.into(),
                why: format!(
                    "{name:?} in namespace {namespace:?} is not a DNS-1123 name (lower-case letters, digits, '-' and '.')"
                ),
            });
        }
        Ok(self
            .dir
            .join(namespace)
            .join(kind.folder())
            .join(format!("{name}.json")))
    }

    /// Store `object`, replacing one of its name.
    pub fn put(&self, object: &Object) -> Result<Change, ObjectError> {
        check_names(object)?;
        let before = self.get(object.kind, &object.namespace, &object.name)?;
        if before.as_ref() == Some(object) {
            return Ok(Change::Unchanged);
        }
        let file = self.file(object.kind, &object.namespace, &object.name)?;
        let dir = file.parent().expect("an object's file has a folder");
        std::fs::create_dir_all(dir).map_err(PathError::at("create", dir))?;
        let secret = object.kind == Kind::Secret;
        if secret {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(PathError::at("chmod", dir))?;
        }
        let bytes = serde_json::to_vec_pretty(object).expect("an object serialises");
        let mode = if secret { 0o600 } else { 0o644 };
        crate::fsutil::write_atomic_mode(&file, &bytes, mode)
            .map_err(PathError::at("write", &file))?;
        Ok(if before.is_some() {
            Change::Configured
        } else {
            Change::Created
        })
    }

    /// The object `kind` `namespace/name`, if stored.
    pub fn get(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Object>, ObjectError> {
        let file = self.file(kind, namespace, name)?;
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PathError::new("read", &file, e).into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ObjectError::Corrupt {
                kind,
                namespace: namespace.into(),
                name: name.into(),
                source,
            })
    }

    /// Every object of `kind` in `namespace`, by name.
    pub fn list(&self, kind: Kind, namespace: &str) -> Vec<Object> {
        let dir = self.dir.join(namespace).join(kind.folder());
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|n| self.get(kind, namespace, n).ok().flatten())
            .collect()
    }

    /// The namespaces holding objects, by name.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_label(n))
            .collect();
        names.sort();
        names
    }

    /// When the object was last stored.
    pub fn stored_at(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Option<std::time::SystemTime> {
        let file = self.file(kind, namespace, name).ok()?;
        std::fs::metadata(file).and_then(|m| m.modified()).ok()
    }

    /// Remove the object; false when there was none.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<bool, ObjectError> {
        let file = self.file(kind, namespace, name)?;
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(PathError::new("remove", &file, e).into()),
        }
    }
}

/// Names and keys as Kubernetes allows them: the name a DNS subdomain (it
/// names a file here), each key `[-._a-zA-Z0-9]+`, at most 253, not `.` or `..`.
fn check_names(object: &Object) -> Result<(), ObjectError> {
    let invalid = |why: String| ObjectError::Invalid {
        kind: object.kind,
        name: object.name.clone(),
        why,
    };
    if !is_subdomain(&object.name) {
        return Err(invalid(
            "the name must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')"
                .into(),
        ));
    }
    if !is_label(&object.namespace) {
        return Err(invalid(format!(
            "namespace {:?} must be a DNS-1123 label",
            object.namespace
        )));
    }
    for key in object.data.keys() {
        if !is_key(key) {
            return Err(invalid(format!(
                "key {key:?} must be letters, digits, '-', '_' or '.' (at most 253), not . or .."
            )));
        }
    }
    Ok(())
}

/// A namespace: a DNS-1123 label.
fn is_label(part: &str) -> bool {
    crate::spec::is_dns_label(part)
}

/// An object's name: a DNS-1123 subdomain.
pub fn is_subdomain(name: &str) -> bool {
    crate::spec::is_dns_subdomain(name)
}

/// A valid ConfigMap or Secret key.
pub fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Values as base64 strings in the stored JSON.
mod base64_values {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        data: &BTreeMap<String, Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            data.iter()
                .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v))),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let text: BTreeMap<String, String> = BTreeMap::deserialize(deserializer)?;
        text.into_iter()
            .map(|(k, v)| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map(|bytes| (k, bytes))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// Decode a Secret's `data` value (base64), as the API server does.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: Kind, name: &str, data: &[(&str, &[u8])]) -> Object {
        Object {
            kind,
            namespace: "default".into(),
            name: name.into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn stored_per_namespace_secrets_private_changes_told() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let objects = Objects::new(root.path());
        let settings = object(Kind::ConfigMap, "settings", &[("mode", b"fast")]);
        assert_eq!(objects.put(&settings).unwrap(), Change::Created);
        assert_eq!(objects.put(&settings).unwrap(), Change::Unchanged);
        let binary = object(Kind::Secret, "settings", &[("key", &[0, 255, 10])]);
        assert_eq!(objects.put(&binary).unwrap(), Change::Created);
        let changed = object(Kind::ConfigMap, "settings", &[("mode", b"slow")]);
        assert_eq!(objects.put(&changed).unwrap(), Change::Configured);
        assert_eq!(
            objects.get(Kind::ConfigMap, "default", "settings").unwrap(),
            Some(changed)
        );
        assert_eq!(
            objects.get(Kind::Secret, "default", "settings").unwrap(),
            Some(binary)
        );
        let file = root.path().join("objects/default/secret/settings.json");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        assert_eq!(objects.list(Kind::ConfigMap, "default").len(), 1);
        assert!(objects.list(Kind::ConfigMap, "other").is_empty());
        assert!(
            objects
                .delete(Kind::ConfigMap, "default", "settings")
                .unwrap()
        );
        assert!(
            !objects
                .delete(Kind::ConfigMap, "default", "settings")
                .unwrap()
        );
    }

    #[test]
    fn names_and_keys_that_would_escape_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let objects = Objects::new(root.path());
        for (name, key) in [("../x", "k"), ("ok", "../k"), ("ok", ".."), ("Bad", "k")] {
            let o = object(Kind::ConfigMap, name, &[(key, b"v")]);
            assert!(
                matches!(objects.put(&o), Err(ObjectError::Invalid { .. })),
                "{name} {key}"
            );
        }
        assert!(std::fs::read_dir(root.path()).unwrap().next().is_none());
        assert!(objects.get(Kind::Secret, "default", "../../x").is_err());
        assert!(objects.delete(Kind::Secret, "..", "x").is_err());
    }
}
