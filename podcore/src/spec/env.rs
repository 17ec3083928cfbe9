//! A container's `env` and `envFrom`, and the Downward API's fields (also
//! used by `downwardAPI` volumes): what Kubernetes accepts, checked here so
//! that a bad reference is an error naming its field, not a failed start.

use k8s_openapi::api::core::v1 as k8s;

use super::field::Field;
use super::model::*;
use crate::objects::Kind;

/// `fieldRef.fieldPath`s with a value on one host (labels and annotations
/// take `['key']`).
const FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.podIP",
    "status.podIPs",
    "status.hostIP",
    "status.hostIPs",
];

/// `resourceFieldRef.resource`s.
const RESOURCES: &[&str] = &[
    "limits.cpu",
    "limits.memory",
    "requests.cpu",
    "requests.memory",
];

/// `env` (`at` is the container's `env`).
pub(super) fn env(list: &[k8s::EnvVar], container: &str, at: &Field) -> Vec<EnvVar> {
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = at.item(i);
        if e.name.is_empty() || e.name.contains('=') {
            at.at("name")
                .error(format!("{:?} is not a valid variable name", e.name));
        }
        let value = match (&e.value, &e.value_from) {
            (Some(_), Some(_)) => {
                at.error("set value or valueFrom, not both");
                continue;
            }
            (value, None) => EnvValue::Literal(value.clone().unwrap_or_default()),
            (None, Some(from)) => match value_from(from, container, &at.at("valueFrom")) {
                Some(value) => value,
                None => continue,
            },
        };
        out.push(EnvVar {
            name: e.name.clone(),
            value,
        });
    }
    out
}

fn value_from(from: &k8s::EnvVarSource, container: &str, at: &Field) -> Option<EnvValue> {
    let set = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        at.error("set exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef");
        return None;
    }
    if let Some(f) = &from.field_ref {
        return field_path(&f.field_path, false, &at.at("fieldRef.fieldPath"))
            .map(EnvValue::Downward);
    }
    if let Some(r) = &from.resource_field_ref {
        let owner = r.container_name.clone().unwrap_or_else(|| container.into());
        return resource(r, owner, &at.at("resourceFieldRef")).map(EnvValue::Downward);
    }
    let (kind, name, key, optional, field) = match (&from.config_map_key_ref, &from.secret_key_ref)
    {
        (Some(c), _) => (
            Kind::ConfigMap,
            &c.name,
            &c.key,
            c.optional,
            "configMapKeyRef",
        ),
        (_, Some(s)) => (Kind::Secret, &s.name, &s.key, s.optional, "secretKeyRef"),
        _ => unreachable!("one source is set"),
    };
    let object = object_ref(kind, name, optional, &at.at(field))?;
    if !crate::objects::is_key(key) {
        at.at(field)
            .at("key")
            .error(format!("{key:?} is not a valid key"));
        return None;
    }
    Some(EnvValue::Key(KeyRef {
        object,
        key: key.clone(),
    }))
}

/// `envFrom` (`at` is the container's `envFrom`).
pub(super) fn env_from(list: &[k8s::EnvFromSource], at: &Field) -> Vec<EnvFrom> {
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = at.item(i);
        let object = match (&e.config_map_ref, &e.secret_ref) {
            (Some(c), None) => {
                object_ref(Kind::ConfigMap, &c.name, c.optional, &at.at("configMapRef"))
            }
            (None, Some(s)) => object_ref(Kind::Secret, &s.name, s.optional, &at.at("secretRef")),
            _ => {
                at.error("set exactly one of configMapRef and secretRef");
                None
            }
        };
        let prefix = e.prefix.clone().unwrap_or_default();
        if prefix.contains('=') {
            at.at("prefix")
                .error(format!("{prefix:?} may not hold '='"));
        }
        if let Some(object) = object {
            out.push(EnvFrom { prefix, object });
        }
    }
    out
}

/// A ConfigMap or Secret named at `at` (its `name` is required).
pub(super) fn object_ref(
    kind: Kind,
    name: &str,
    optional: Option<bool>,
    at: &Field,
) -> Option<ObjectRef> {
    if name.is_empty() {
        at.at("name").error(format!("required: name the {kind}"));
        return None;
    }
    if !crate::objects::is_subdomain(name) {
        at.at("name").error(format!(
            "{name:?} must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')"
        ));
        return None;
    }
    Some(ObjectRef {
        kind,
        name: name.to_string(),
        optional: optional.unwrap_or(false),
    })
}

/// A `fieldRef.fieldPath` (`at`) with a value on one host; a volume's file
/// may also hold all labels or annotations.
pub(super) fn field_path(path: &str, volume: bool, at: &Field) -> Option<DownwardField> {
    let all = ["metadata.labels", "metadata.annotations"].contains(&path);
    if volume && all {
        return Some(DownwardField::Field(path.to_string()));
    }
    let keyed = ["metadata.labels", "metadata.annotations"]
        .iter()
        .any(|prefix| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix("['"))
                .and_then(|rest| rest.strip_suffix("']"))
                .is_some_and(|key| !key.is_empty())
        });
    if keyed || FIELD_PATHS.contains(&path) {
        return Some(DownwardField::Field(path.to_string()));
    }
    at.error(format!(
        "{path:?} is not supported: use one of {}, metadata.labels['KEY'] or metadata.annotations['KEY']",
        FIELD_PATHS.join(", ")
    ));
    None
}

/// A `resourceFieldRef` of the container `owner` (`at`).
pub(super) fn resource(
    r: &k8s::ResourceFieldSelector,
    owner: String,
    at: &Field,
) -> Option<DownwardField> {
    if !RESOURCES.contains(&r.resource.as_str()) {
        at.at("resource").error(format!(
            "{:?} is not supported: use one of {}",
            r.resource,
            RESOURCES.join(", ")
        ));
        return None;
    }
    let cpu = r.resource.ends_with(".cpu");
    let divisor = match &r.divisor {
        None => {
            if cpu {
                1000
            } else {
                1
            }
        }
        Some(q) => {
            let parsed = if cpu {
                super::quantity::cpu_millis(&q.0)
            } else {
                super::quantity::memory_bytes(&q.0)
            };
            match parsed {
                Ok(0) => {
                    at.at("divisor").error("must be more than 0");
                    return None;
                }
                Ok(d) => d,
                Err(e) => {
                    at.at("divisor").error(e);
                    return None;
                }
            }
        }
    };
    Some(DownwardField::Resource {
        container: owner,
        resource: r.resource.clone(),
        divisor,
    })
}
