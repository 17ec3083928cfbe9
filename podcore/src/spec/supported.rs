//! The fields of a pod spec this project implements, as one table: a field
//! Kubernetes knows that is set but not listed is an error naming it (it
//! would be silently ignored otherwise), and a cluster-only field is a
//! warning (it has no meaning on one host).

use serde_json::Value;

use super::field::Field;

/// Pod spec fields that only matter to a cluster's scheduler or API server:
/// without meaning on one host, so ignored with a warning.
const CLUSTER_ONLY: &[&str] = &[
    "nodeName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "schedulerName",
    "priorityClassName",
    "priority",
    "preemptionPolicy",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "topologySpreadConstraints",
    "imagePullSecrets",
    "schedulingGates",
];

/// Where in a pod spec an object is (dot-separated steps; `a|b` is either
/// key, `[]` every item of the list) and the keys it may set.
const SUPPORTED: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "containers",
            "initContainers",
            "restartPolicy",
            "shareProcessNamespace",
            "hostname",
            "subdomain",
            "setHostnameAsFQDN",
            "dnsPolicy",
            "dnsConfig",
            "hostAliases",
            "hostNetwork",
            "hostIPC",
            "hostPID",
            "terminationGracePeriodSeconds",
            "volumes",
            "securityContext",
        ],
    ),
    (
        "securityContext",
        &[
            "runAsUser",
            "runAsGroup",
            "runAsNonRoot",
            "supplementalGroups",
            "fsGroup",
            "fsGroupChangePolicy",
            "sysctls",
            "seccompProfile",
        ],
    ),
    (
        "initContainers|containers[]",
        &[
            "name",
            "image",
            "imagePullPolicy",
            "command",
            "args",
            "env",
            "envFrom",
            "workingDir",
            "volumeMounts",
            "resources",
            "securityContext",
            "restartPolicy",
            "lifecycle",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "ports",
            "terminationMessagePath",
            "terminationMessagePolicy",
            "stdin",
            "stdinOnce",
            "tty",
        ],
    ),
    (
        "initContainers|containers[].env[]",
        &["name", "value", "valueFrom"],
    ),
    (
        "initContainers|containers[].env[].valueFrom",
        &[
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
        ],
    ),
    (
        "initContainers|containers[].envFrom[]",
        &["configMapRef", "secretRef", "prefix"],
    ),
    (
        "initContainers|containers[].volumeMounts[]",
        &["name", "mountPath", "readOnly", "subPath"],
    ),
    (
        "initContainers|containers[].resources",
        &["limits", "requests"],
    ),
    (
        "initContainers|containers[].resources.limits|requests",
        &["cpu", "memory"],
    ),
    (
        "initContainers|containers[].securityContext",
        &[
            "privileged",
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "runAsUser",
            "runAsGroup",
            "runAsNonRoot",
            "capabilities",
            "seccompProfile",
        ],
    ),
    (
        "initContainers|containers[].livenessProbe|readinessProbe|startupProbe",
        &[
            "exec",
            "tcpSocket",
            "httpGet",
            "grpc",
            "initialDelaySeconds",
            "periodSeconds",
            "timeoutSeconds",
            "successThreshold",
            "failureThreshold",
        ],
    ),
    (
        "initContainers|containers[].lifecycle",
        &["preStop", "postStart"],
    ),
    (
        "initContainers|containers[].lifecycle.postStart",
        &["exec", "httpGet"],
    ),
    ("initContainers|containers[].lifecycle.preStop", &["exec"]),
    (
        "volumes[]",
        &[
            "name",
            "emptyDir",
            "hostPath",
            "configMap",
            "secret",
            "downwardAPI",
            "projected",
        ],
    ),
    (
        "volumes[].projected.sources[]",
        &["configMap", "secret", "downwardAPI"],
    ),
];

/// Check the pod spec `spec` (at `at`) against the table: errors for set
/// fields not supported, warnings for cluster-only ones.
pub(super) fn check(spec: &Value, at: &Field, warnings: &mut Vec<String>) {
    for (place, keys) in SUPPORTED {
        for (object, field) in objects(spec, place, at.clone()) {
            for key in object.as_object().into_iter().flat_map(|o| o.keys()) {
                if place.is_empty() && CLUSTER_ONLY.contains(&key.as_str()) {
                    let path = field.at(key);
                    warnings.push(format!(
                        "{}: has no meaning on a single host, ignored",
                        path.path()
                    ));
                } else if !keys.contains(&key.as_str()) {
                    field
                        .at(key)
                        .error("not supported by podctl yet: remove it");
                }
            }
        }
    }
}

/// The objects at `place` under `value`, each with its field.
fn objects<'v>(value: &'v Value, place: &str, at: Field) -> Vec<(&'v Value, Field)> {
    let mut found = vec![(value, at)];
    for step in place.split('.').filter(|s| !s.is_empty()) {
        let (keys, every) = match step.strip_suffix("[]") {
            Some(keys) => (keys, true),
            None => (step, false),
        };
        let mut next = Vec::new();
        for (object, field) in &found {
            for key in keys.split('|') {
                let Some(child) = object.get(key) else {
                    continue;
                };
                let field = field.at(key);
                if every {
                    for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                        next.push((item, field.item(i)));
                    }
                } else {
                    next.push((child, field));
                }
            }
        }
        found = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_walks_every_level() {
        let spec = serde_json::json!({
            "os": {"name": "linux"},
            "nodeName": "n1",
            "containers": [
                {"name": "a", "env": [{"name": "X", "valueFrom": {"fileKeyRef": {}}}]},
                {"name": "b", "livenessProbe": {"terminationGracePeriodSeconds": 5}, "resources": {"limits": {"nvidia.com/gpu": 1}}}
            ],
            "initContainers": [{"name": "i", "lifecycle": {"stopSignal": "SIGINT"}}],
            "volumes": [{"name": "v", "nfs": {}, "projected": {"sources": [{"serviceAccountToken": {}}]}}]
        });
        let at = Field::root("spec");
        let mut warnings = Vec::new();
        check(&spec, &at, &mut warnings);
        let mut paths: Vec<String> = at.errors().into_iter().map(|e| e.path).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "spec.containers[0].env[0].valueFrom.fileKeyRef",
                "spec.containers[1].livenessProbe.terminationGracePeriodSeconds",
                "spec.containers[1].resources.limits.nvidia.com/gpu",
                "spec.initContainers[0].lifecycle.stopSignal",
                "spec.os",
                "spec.volumes[0].nfs",
                "spec.volumes[0].projected.sources[0].serviceAccountToken",
            ]
        );
        assert_eq!(
            warnings,
            ["spec.nodeName: has no meaning on a single host, ignored"]
        );
    }
}
