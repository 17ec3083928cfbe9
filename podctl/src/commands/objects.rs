//! `get` and `delete` of ConfigMaps and Secrets: kubectl's table (NAME DATA
//! AGE, and TYPE for Secrets) and API objects (a Secret's values base64).

use std::path::Path;

use anyhow::bail;
use base64::Engine as _;
use podcore::objects::{Kind, Object, Objects};

use crate::commands::get::GetOutput;
use crate::error::CliError;
use crate::output;

/// `podctl get configmaps|secrets [NAME]`.
pub fn get(
    root: &Path,
    kind: Kind,
    name: Option<&str>,
    namespace: Option<&str>,
    format: Option<GetOutput>,
) -> anyhow::Result<()> {
    let store = Objects::new(root);
    let all = namespace.is_none();
    let namespace = namespace.unwrap_or("default");
    let objects = match name {
        Some(name) => match store.get(kind, namespace, name)? {
            Some(object) => vec![object],
            None => bail!(CliError::NotFound(format!(
                "{} {name:?} not found in namespace {namespace:?}",
                kind.to_string().to_lowercase()
            ))),
        },
        None if all => store
            .namespaces()
            .iter()
            .flat_map(|n| store.list(kind, n))
            .collect(),
        None => store.list(kind, namespace),
    };
    match format {
        Some(format @ (GetOutput::Json | GetOutput::Yaml)) => {
            let items: Vec<serde_json::Value> = objects.iter().map(api_object).collect();
            crate::commands::get::print_api_objects(items, name.is_some(), format)?;
        }
        Some(GetOutput::Name) => {
            for object in &objects {
                println!("{}", object.display_name());
            }
        }
        None | Some(GetOutput::Wide) => {
            if objects.is_empty() {
                if all {
                    eprintln!("No resources found");
                } else {
                    eprintln!("No resources found in {namespace} namespace.");
                }
                return Ok(());
            }
            let now = chrono::Utc::now();
            let rows: Vec<Vec<String>> = objects
                .iter()
                .map(|o| {
                    let age = store
                        .stored_at(kind, &o.namespace, &o.name)
                        .map(|t| output::age(chrono::DateTime::<chrono::Utc>::from(t), now))
                        .unwrap_or_else(|| "<unknown>".into());
                    let mut row = Vec::new();
                    if all {
                        row.push(o.namespace.clone());
                    }
                    row.push(o.name.clone());
                    if kind == Kind::Secret {
                        row.push("Opaque".into());
                    }
                    row.extend([o.data.len().to_string(), age]);
                    row
                })
                .collect();
            let mut header = match kind {
                Kind::ConfigMap => vec!["NAME", "DATA", "AGE"],
                Kind::Secret => vec!["NAME", "TYPE", "DATA", "AGE"],
            };
            if all {
                header.insert(0, "NAMESPACE");
            }
            output::table(&header, &rows)?;
        }
    }
    Ok(())
}

/// The object as the API shows it: a ConfigMap's text in `data` (other
/// bytes in `binaryData`), a Secret's values base64 in `data`.
fn api_object(object: &Object) -> serde_json::Value {
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let metadata = serde_json::json!({"name": object.name, "namespace": object.namespace});
    match object.kind {
        Kind::ConfigMap => {
            let mut data = serde_json::Map::new();
            let mut binary = serde_json::Map::new();
            for (key, bytes) in &object.data {
                match std::str::from_utf8(bytes) {
                    Ok(text) => data.insert(key.clone(), text.into()),
                    Err(_) => binary.insert(key.clone(), base64(bytes).into()),
                };
            }
            let mut value = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data});
            if !binary.is_empty() {
                value["binaryData"] = binary.into();
            }
            value
        }
        Kind::Secret => {
            let data: serde_json::Map<String, serde_json::Value> = object
                .data
                .iter()
                .map(|(k, v)| (k.clone(), base64(v).into()))
                .collect();
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": data})
        }
    }
}

/// `podctl delete configmaps|secrets NAME...` (or `--all`).
pub fn delete(
    root: &Path,
    kind: Kind,
    names: &[String],
    all: bool,
    namespace: &str,
) -> anyhow::Result<()> {
    let store = Objects::new(root);
    let names: Vec<String> = if all {
        store
            .list(kind, namespace)
            .into_iter()
            .map(|o| o.name)
            .collect()
    } else if names.is_empty() {
        bail!(CliError::Usage(format!(
            "name the {}s to delete, or use --all",
            kind.to_string().to_lowercase()
        )));
    } else {
        names.to_vec()
    };
    let word = kind.to_string().to_lowercase();
    for name in names {
        if !store.delete(kind, namespace, &name)? {
            bail!(CliError::NotFound(format!(
                "{word} {name:?} not found in namespace {namespace:?}"
            )));
        }
        println!("{word} \"{name}\" deleted");
    }
    Ok(())
}
