//! Pod specs: read from Kubernetes YAML (`Pod`, and the pod template of `Job`,
//! `Deployment`, `ReplicaSet`, `DaemonSet`, `StatefulSet`) or podctl's TOML,
//! checked with Kubernetes' types (`k8s-openapi`) and rules, and turned into
//! the one model podcore runs ([`PodSpec`]). Pure: no I/O.
//!
//! Unknown fields are warnings with their path; fields this project does not
//! support are errors naming the field; syntax errors carry line and column.
//!
//! One file a job: `document` (which kinds hold a pod), `typed`
//! (Kubernetes' types, unknown fields as warnings), `supported` (the one
//! table of supported fields), `pod`, `volume`, `container` and `probe`
//! (the rules at each level, each reporting at its field through
//! `field::Field`), [`defaults`] and `names`.

mod container;
pub mod defaults;
mod document;
mod env;
mod field;
mod model;
mod names;
mod object;
mod pod;
mod probe;
pub mod quantity;
mod supported;
mod toml_format;
mod typed;
mod volume;

use std::collections::BTreeMap;

pub use model::*;
pub use names::{is_dns_label, is_dns_subdomain};

/// How a warning about a field Kubernetes does not know ends (after its path).
pub const UNKNOWN_FIELD: &str = ": unknown field, ignored";

/// The path of an unknown field a warning is about (kubectl's strict field
/// validation refuses those), if it is one.
pub fn unknown_field(warning: &str) -> Option<&str> {
    warning.strip_suffix(UNKNOWN_FIELD)
}

/// One pod read from a manifest.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub pod: PodSpec,
    /// Fields ignored, with their path (unknown, or without meaning on one host).
    pub warnings: Vec<String>,
    /// Things the user should know (e.g. "a Job: one pod is run from its template").
    pub notes: Vec<String>,
}

/// The manifest's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// TOML for `.toml` files, YAML otherwise (JSON is YAML).
    pub fn from_path(path: &std::path::Path) -> Self {
        if path.extension().is_some_and(|e| e == "toml") {
            Self::Toml
        } else {
            Self::Yaml
        }
    }
}

/// A field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Like `spec.containers[1].image`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("the manifest holds no pod")]
    Empty,
}

impl SpecError {
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            path: path.into(),
            message: message.into(),
        }])
    }
}

/// Everything a manifest holds: its pods, its ConfigMaps and Secrets, and
/// what was left out (other kinds, such as a Service around the pods).
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub pods: Vec<Parsed>,
    pub objects: Vec<crate::objects::Object>,
    /// One line per kind left out, and the objects' unknown fields.
    pub warnings: Vec<String>,
}

/// Read every document of a manifest: pods (a `Pod` or a workload's
/// template), ConfigMaps and Secrets; other kinds are left out with one
/// warning each, as they mean nothing to a single host.
pub fn parse_manifest(text: &str, format: Format) -> Result<Manifest, SpecError> {
    let documents = match format {
        Format::Yaml => yaml_documents(text)?,
        Format::Toml => vec![toml_format::to_pod_document(text)?],
    };
    let mut manifest = Manifest::default();
    let mut left_out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (index, document) in documents.into_iter().enumerate() {
        let prefix = if index == 0 {
            String::new()
        } else {
            format!("document {}: ", index + 1)
        };
        let at_document = |e: SpecError| match e {
            SpecError::Invalid(errors) if !prefix.is_empty() => SpecError::Invalid(
                errors
                    .into_iter()
                    .map(|f| FieldError {
                        path: format!("{prefix}{}", f.path),
                        message: f.message,
                    })
                    .collect(),
            ),
            other => other,
        };
        let kind = document
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        let object_kind = match kind.as_str() {
            "ConfigMap" => Some(crate::objects::Kind::ConfigMap),
            "Secret" => Some(crate::objects::Kind::Secret),
            _ => None,
        };
        if let Some(object_kind) = object_kind {
            let object = object::from_document(object_kind, document, &mut manifest.warnings)
                .map_err(at_document)?;
            manifest.objects.push(object);
        } else if document::holds_pod(&kind) {
            manifest
                .pods
                .push(document::from_document(document).map_err(at_document)?);
        } else {
            let name = document
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("(no name)")
                .to_string();
            left_out.entry(kind).or_default().push(name);
        }
    }
    for (kind, names) in left_out {
        manifest.warnings.push(format!(
            "{kind} {} left out: podctl runs pods, ConfigMaps and Secrets; a {kind} has no meaning on a single host",
            names.join(", ")
        ));
    }
    if manifest.pods.is_empty() && manifest.objects.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(manifest)
}

/// Read every pod of a manifest (a manifest without one is an error).
pub fn parse(text: &str, format: Format) -> Result<Vec<Parsed>, SpecError> {
    let manifest = parse_manifest(text, format)?;
    if manifest.pods.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(manifest.pods)
}

/// `pod` with one more app container: a Kubernetes container object,
/// checked as it would be in the pod's manifest (field paths name
/// `spec.containers[N]`), e.g. a name already taken.
pub fn with_container(pod: &PodSpec, container: serde_json::Value) -> Result<PodSpec, SpecError> {
    let mut spec = pod.original.clone();
    let Some(list) = spec
        .as_object_mut()
        .map(|s| {
            s.entry("containers")
                .or_insert_with(|| serde_json::json!([]))
        })
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Err(SpecError::field(
            "spec",
            "the pod's own spec is not an object",
        ));
    };
    list.push(container);
    let document = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels},
        "spec": spec,
    });
    let mut parsed = document::from_document(document)?.pod;
    parsed.source_kind = pod.source_kind.clone();
    Ok(parsed)
}

/// `pod` without the container `name` (app or init).
pub fn without_container(pod: &PodSpec, name: &str) -> PodSpec {
    let mut pod = pod.clone();
    pod.containers.retain(|c| c.name != name);
    pod.init_containers.retain(|c| c.name != name);
    for list in ["containers", "initContainers"] {
        if let Some(items) = pod.original.get_mut(list).and_then(|l| l.as_array_mut()) {
            items.retain(|c| c.get("name").and_then(|n| n.as_str()) != Some(name));
        }
    }
    pod
}

/// File modes written the YAML 1.1 way Kubernetes reads them (`mode: 0440`
/// is octal) come from a YAML 1.2 reader as text: make them the number.
fn octal_modes(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "mode" || key == "defaultMode" {
                    let octal = v.as_str().and_then(|t| {
                        let digits = t.strip_prefix("0o").or_else(|| t.strip_prefix('0'))?;
                        u32::from_str_radix(digits, 8).ok()
                    });
                    if let Some(mode) = octal {
                        *v = mode.into();
                    }
                }
                octal_modes(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(octal_modes),
        _ => {}
    }
}

fn yaml_documents(text: &str) -> Result<Vec<serde_json::Value>, SpecError> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(document).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            SpecError::Syntax {
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if !value.is_null() {
            let mut value = value;
            octal_modes(&mut value);
            out.push(value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
