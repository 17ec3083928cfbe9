//! Kubernetes objects read with `k8s-openapi`'s types: a wrong type is an
//! error naming its field path (`serde_path_to_error`), a field Kubernetes
//! does not know is a warning with its path (`serde_ignored`).

use serde_json::Value;

use super::SpecError;

/// Deserialize with field paths in errors and unknown fields as warnings.
pub(super) fn typed<T: serde::de::DeserializeOwned>(
    value: Value,
    prefix: &str,
    warnings: &mut Vec<String>,
) -> Result<T, SpecError> {
    let mut unknown = Vec::new();
    let result: Result<T, _> = {
        let mut record = |path: serde_ignored::Path| unknown.push(render(&path));
        let ignored = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize(ignored)
    };
    let join = |path: String| match (prefix.is_empty(), path.as_str()) {
        (true, _) => path,
        (false, "" | ".") => prefix.to_string(),
        (false, _) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, _) => format!("{prefix}.{path}"),
    };
    for path in unknown {
        warnings.push(format!("{}{}", join(path), super::UNKNOWN_FIELD));
    }
    result.map_err(|e| {
        let path = e.path().to_string();
        SpecError::field(
            join(if path == "." { String::new() } else { path }),
            e.into_inner().to_string(),
        )
    })
}

fn render(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render(parent)),
        Path::Map { parent, key } => {
            let parent = render(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1 as k8s;

    #[test]
    fn unknown_fields_warn_and_wrong_types_name_the_path() {
        let mut warnings = Vec::new();
        let container: k8s::Container = typed(
            serde_json::json!({"name": "c", "colour": "blue", "ports": [{"containerPort": 80, "size": 1}]}),
            "spec.containers[0]",
            &mut warnings,
        )
        .unwrap();
        assert_eq!(container.name, "c");
        assert_eq!(
            warnings,
            [
                "spec.containers[0].colour: unknown field, ignored",
                "spec.containers[0].ports[0].size: unknown field, ignored"
            ]
        );
        let wrong = typed::<k8s::Container>(
            serde_json::json!({"name": "c", "command": "echo"}),
            "spec.containers[0]",
            &mut warnings,
        );
        match wrong {
            Err(SpecError::Invalid(errors)) => {
                assert_eq!(errors[0].path, "spec.containers[0].command")
            }
            other => panic!("{other:?}"),
        }
    }
}
