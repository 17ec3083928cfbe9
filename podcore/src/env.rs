//! A container's environment as the kubelet makes it when the container
//! starts: `envFrom` first (each key, prefixed), then `env` in order, a
//! value's `$(NAME)` expanded from what is defined before it; ConfigMaps and
//! Secrets read now, so a restart sees their current data. `command` and
//! `args` are expanded from the result. A missing object or key (not
//! optional) fails the start with `CreateContainerConfigError`.

use crate::downward::{self, PodFacts};
use crate::objects::{Kind, Object, ObjectError, Objects};
use crate::spec::{Container, EnvValue, ObjectRef, PodSpec};

/// Why a container's environment cannot be made (its start waits, as the
/// kubelet's `CreateContainerConfigError`).
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{} {:?} not found", .0.to_string().to_lowercase(), .1)]
    NotFound(Kind, String),
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    NoKey {
        kind: Kind,
        namespace: String,
        name: String,
        key: String,
    },
    #[error("{kind} {name:?}: key {key:?} is not UTF-8 text")]
    NotText {
        kind: Kind,
        name: String,
        key: String,
    },
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Downward(#[from] downward::DownwardError),
}

/// The container's variables, in order (a name defined twice keeps its
/// first place and its last value).
pub fn resolve(
    container: &Container,
    pod: &PodSpec,
    facts: &PodFacts,
    objects: &Objects,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, name: String, value: String| match env
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    };
    for from in &container.env_from {
        let Some(object) = object(&from.object, &pod.namespace, objects)? else {
            continue;
        };
        for (key, bytes) in &object.data {
            let name = format!("{}{key}", from.prefix);
            // The kubelet skips keys that are not valid variable names (with an event).
            if name.is_empty() || name.contains('=') {
                continue;
            }
            set(&mut env, name, text(&object, key, bytes)?);
        }
    }
    for var in &container.env {
        let value = match &var.value {
            EnvValue::Literal(text) => expand(text, |name| {
                env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
            }),
            EnvValue::Downward(field) => downward::value(field, pod, facts)?,
            EnvValue::Key(key) => {
                let Some(object) = object(&key.object, &pod.namespace, objects)? else {
                    continue;
                };
                match object.data.get(&key.key) {
                    Some(bytes) => text(&object, &key.key, bytes)?,
                    None if key.object.optional => continue,
                    None => {
                        return Err(EnvError::NoKey {
                            kind: object.kind,
                            namespace: object.namespace.clone(),
                            name: object.name.clone(),
                            key: key.key.clone(),
                        });
                    }
                }
            }
        };
        set(&mut env, var.name.clone(), value);
    }
    Ok(env)
}

/// The object a reference names: None when it is missing and optional.
fn object(
    reference: &ObjectRef,
    namespace: &str,
    objects: &Objects,
) -> Result<Option<Object>, EnvError> {
    match objects.get(reference.kind, namespace, &reference.name)? {
        Some(object) => Ok(Some(object)),
        None if reference.optional => Ok(None),
        None => Err(EnvError::NotFound(reference.kind, reference.name.clone())),
    }
}

fn text(object: &Object, key: &str, bytes: &[u8]) -> Result<String, EnvError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| EnvError::NotText {
        kind: object.kind,
        name: object.name.clone(),
        key: key.to_string(),
    })
}

/// Kubernetes' `$(VAR)` expansion: `$(NAME)` becomes NAME's value when it is
/// defined (else it stays as written), `$$` is a `$` (so `$$(NAME)` stays
/// `$(NAME)`), any other `$` is kept.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(')
            && let Some(end) = body.find(')')
        {
            let name = &body[..end];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_follows_kubernetes() {
        let cases = [
            ("$(A)", "1"),
            ("x$(A)y$(A)", "x1y1"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$1"),
            ("$A", "$A"),
            ("$(EMPTY)-", "-"),
            ("$(A", "$(A"),
            ("tail$", "tail$"),
            ("$$", "$"),
            ("no refs", "no refs"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "{input}");
        }
    }

    #[test]
    fn env_from_then_env_with_references_and_objects() {
        let root = tempfile::tempdir().unwrap();
        let objects = Objects::new(root.path());
        let map = |kind, name: &str, data: &[(&str, &str)]| Object {
            kind,
            namespace: "default".into(),
            name: name.into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        };
        objects
            .put(&map(
                Kind::ConfigMap,
                "settings",
                &[("MODE", "fast"), ("LEVEL", "3")],
            ))
            .unwrap();
        objects
            .put(&map(Kind::Secret, "db", &[("password", "hunter2")]))
            .unwrap();
        let pod = crate::spec::parse(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: web}}
spec:
  containers:
  - name: c
    image: busybox
    envFrom:
    - configMapRef: {name: settings}
      prefix: CFG_
    - secretRef: {name: absent, optional: true}
    env:
    - {name: CFG_MODE, value: slow}
    - {name: GREETING, value: "mode $(CFG_MODE) level $(CFG_LEVEL) $(NOPE) $$(CFG_MODE)"}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: MAYBE
      valueFrom: {configMapKeyRef: {name: settings, key: absent, optional: true}}
"#,
            crate::spec::Format::Yaml,
        )
        .unwrap()
        .remove(0)
        .pod;
        let facts = PodFacts {
            labels: pod.labels.clone(),
            ..PodFacts::default()
        };
        let env = resolve(&pod.containers[0], &pod, &facts, &objects).unwrap();
        let got: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("CFG_LEVEL", "3"),
                ("CFG_MODE", "slow"),
                ("GREETING", "mode slow level 3 $(NOPE) $(CFG_MODE)"),
                ("PASSWORD", "hunter2"),
                ("APP", "web"),
            ]
        );
        objects.delete(Kind::Secret, "default", "db").unwrap();
        let error = resolve(&pod.containers[0], &pod, &facts, &objects).unwrap_err();
        assert_eq!(error.to_string(), "secret \"db\" not found");
    }
}
