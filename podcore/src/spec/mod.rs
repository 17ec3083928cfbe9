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
mod field;
mod model;
mod names;
mod pod;
mod probe;
pub mod quantity;
mod supported;
mod toml_format;
mod typed;
mod volume;

pub use model::*;

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

/// Read every pod of a manifest.
pub fn parse(text: &str, format: Format) -> Result<Vec<Parsed>, SpecError> {
    let documents = match format {
        Format::Yaml => yaml_documents(text)?,
        Format::Toml => vec![toml_format::to_pod_document(text)?],
    };
    let mut pods = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        let prefix = if index == 0 {
            String::new()
        } else {
            format!("document {}: ", index + 1)
        };
        let parsed = document::from_document(document).map_err(|e| match e {
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
        })?;
        pods.push(parsed);
    }
    if pods.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(pods)
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
            out.push(value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
