//! `ConfigMap` and `Secret` documents of a manifest, read with Kubernetes'
//! types and rules into [`crate::objects::Object`]s.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as k8s;
use serde_json::Value;

use super::SpecError;
use super::typed::typed;
use crate::objects::{Kind, Object, is_key};

/// The ConfigMap or Secret of a document whose kind is `kind`.
pub(super) fn from_document(
    kind: Kind,
    document: Value,
    warnings: &mut Vec<String>,
) -> Result<Object, SpecError> {
    let (metadata, data) = match kind {
        Kind::ConfigMap => {
            let map: k8s::ConfigMap = typed(document, "", warnings)?;
            let mut data: BTreeMap<String, Vec<u8>> = map
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (key, bytes) in map.binary_data.unwrap_or_default() {
                if data.insert(key.clone(), bytes.0).is_some() {
                    return Err(SpecError::field(
                        format!("binaryData.{key}"),
                        "the key is also in data: a key may be in one of them",
                    ));
                }
            }
            (map.metadata, data)
        }
        Kind::Secret => {
            let secret: k8s::Secret = typed(document, "", warnings)?;
            // `data` is base64 (decoded by the type); `stringData` is plain
            // text and wins, as the API server merges it.
            let mut data: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            for (key, text) in secret.string_data.unwrap_or_default() {
                data.insert(key, text.into_bytes());
            }
            (secret.metadata, data)
        }
    };
    let name = metadata.name.unwrap_or_default();
    if name.is_empty() {
        return Err(SpecError::field(
            "metadata.name",
            format!("required: name the {kind}"),
        ));
    }
    if let Some(key) = data.keys().find(|k| !is_key(k)) {
        return Err(SpecError::field(
            format!("data.{key}"),
            "a key must be letters, digits, '-', '_' or '.' (at most 253), not . or ..",
        ));
    }
    Ok(Object {
        kind,
        namespace: metadata
            .namespace
            .unwrap_or_else(|| super::defaults::NAMESPACE.into()),
        name,
        data,
    })
}
