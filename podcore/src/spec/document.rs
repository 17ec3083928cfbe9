//! One manifest document: which kinds hold a pod (a `Pod`, or the template
//! of a workload), read with Kubernetes' types, checked against what is
//! supported, and turned into a [`PodSpec`](super::PodSpec).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::field::Field;
use super::typed::typed;
use super::{Parsed, SpecError};

/// Kinds whose `spec.template` is a pod, with the API version they need.
const WORKLOADS: &[(&str, &str)] = &[
    ("Job", "batch/v1"),
    ("Deployment", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("StatefulSet", "apps/v1"),
];

/// What a document names in its error when it holds no pod.
const KINDS: &str = "Pod, Job, Deployment, ReplicaSet, DaemonSet or StatefulSet";

/// The pod a document holds, before it is checked.
struct PodDocument {
    kind: String,
    metadata: ObjectMeta,
    spec: k8s::PodSpec,
    /// Where the pod spec is: `spec` or `spec.template.spec`.
    spec_path: &'static str,
    /// The pod spec as written, kept to add containers to it later.
    spec_json: Value,
    notes: Vec<String>,
}

/// Whether a document of `kind` is read as a pod (an empty kind is, to be
/// refused with the kinds there are).
pub fn holds_pod(kind: &str) -> bool {
    kind.is_empty() || kind == "Pod" || WORKLOADS.iter().any(|(k, _)| *k == kind)
}

/// Read one manifest document.
pub fn from_document(document: Value) -> Result<Parsed, SpecError> {
    let mut warnings = Vec::new();
    let pod = pod_document(document, &mut warnings)?;
    let at = Field::root(pod.spec_path);
    super::supported::check(&pod.spec_json, &at, &mut warnings);
    // A key Kubernetes does not know is already a warning, not also "unsupported".
    let unknown: BTreeSet<String> = warnings
        .iter()
        .filter_map(|w| super::unknown_field(w))
        .map(String::from)
        .collect();
    at.forget(|e| unknown.contains(&e.path));
    let spec = super::pod::to_model(pod.metadata, pod.spec, &pod.kind, &at, pod.spec_json);
    match spec {
        Some(pod_spec) if !at.has_errors() => Ok(Parsed {
            pod: pod_spec,
            warnings,
            notes: pod.notes,
        }),
        _ => Err(SpecError::Invalid(at.errors())),
    }
}

/// The pod of a `Pod` or of a workload's template.
fn pod_document(document: Value, warnings: &mut Vec<String>) -> Result<PodDocument, SpecError> {
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind == "Pod" {
        let spec_json = document.get("spec").cloned().unwrap_or(Value::Null);
        let pod: k8s::Pod = typed(document, "", warnings)?;
        let spec = pod.spec.ok_or_else(|| {
            SpecError::field("spec", "required: a pod needs a spec with containers")
        })?;
        return Ok(PodDocument {
            kind,
            metadata: pod.metadata,
            spec,
            spec_path: "spec",
            spec_json,
            notes: Vec::new(),
        });
    }
    let Some((_, api_version)) = WORKLOADS.iter().find(|(k, _)| *k == kind) else {
        return Err(if kind.is_empty() {
            SpecError::field("kind", format!("required: {KINDS}"))
        } else {
            SpecError::field("kind", format!("{kind} is not supported: use {KINDS}"))
        });
    };
    let given = document
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if given != *api_version {
        return Err(SpecError::field(
            "apiVersion",
            format!("{kind} needs apiVersion {api_version}, not {given:?}"),
        ));
    }
    let mut metadata: ObjectMeta = typed(
        document.get("metadata").cloned().unwrap_or(Value::Null),
        "metadata",
        warnings,
    )?;
    let template_json = document.pointer("/spec/template").cloned().ok_or_else(|| {
        SpecError::field(
            "spec.template",
            format!("required: a {kind} runs the pod of its template"),
        )
    })?;
    let spec_json = template_json.get("spec").cloned().unwrap_or(Value::Null);
    let template: k8s::PodTemplateSpec = typed(template_json, "spec.template", warnings)?;
    let spec = template
        .spec
        .ok_or_else(|| SpecError::field("spec.template.spec", "required: the pod's spec"))?;
    if let Some(labels) = template.metadata.and_then(|m| m.labels) {
        metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels);
    }
    let note = format!(
        "a {kind}: one pod is run from its template (no controller: no replicas, retries or rollouts)"
    );
    Ok(PodDocument {
        kind,
        metadata,
        spec,
        spec_path: "spec.template.spec",
        spec_json,
        notes: vec![note],
    })
}
