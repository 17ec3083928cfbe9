//! podctl's own TOML: the pod spec's fields in snake_case at the top level,
//! with `name`, `namespace` and `labels` for the metadata. It becomes a
//! Kubernetes-shaped `Pod` document so that both formats share one checker.

use serde_json::{Map, Value};

use super::SpecError;

/// Parse podctl TOML into a `v1/Pod` JSON document.
pub fn to_pod_document(text: &str) -> Result<Value, SpecError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((0, 0));
        SpecError::Syntax {
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let mut metadata = Map::new();
    let mut spec = Map::new();
    for (key, value) in table {
        let value = serde_json::to_value(value)
            .map_err(|e| SpecError::field(key.clone(), e.to_string()))?;
        match key.as_str() {
            "name" | "namespace" | "labels" | "annotations" => {
                metadata.insert(key, value);
            }
            _ => {
                spec.insert(camel(&key), camel_keys(value));
            }
        }
    }
    Ok(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}))
}

fn camel_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel(&k), camel_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

/// `restart_policy` -> `restartPolicy`; `host_ipc` -> `hostIPC` as Kubernetes spells it.
fn camel(key: &str) -> String {
    match key {
        "host_ipc" => return "hostIPC".into(),
        "host_pid" => return "hostPID".into(),
        _ => {}
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #[test]
    fn camel_case_like_kubernetes() {
        assert_eq!(
            super::camel("share_process_namespace"),
            "shareProcessNamespace"
        );
        assert_eq!(super::camel("host_ipc"), "hostIPC");
        assert_eq!(super::camel("image"), "image");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = super::to_pod_document("name = \"x\"\n[[containers]\n").unwrap_err();
        match err {
            super::SpecError::Syntax { line, .. } => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}
