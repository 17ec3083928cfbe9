//! A manifest document -> Kubernetes types -> [`PodSpec`], with Kubernetes'
//! validation rules and this project's list of supported fields.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1 as k8s;
use serde_json::Value;

use super::model::*;
use super::quantity;
use super::{FieldError, Parsed, SpecError};

/// Kinds whose `spec.template` is a pod, with the API version they need.
const WORKLOADS: &[(&str, &str)] = &[
    ("Job", "batch/v1"),
    ("Deployment", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("StatefulSet", "apps/v1"),
];

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
    "dnsPolicy",
    "enableServiceLinks",
    "topologySpreadConstraints",
    "imagePullSecrets",
    "schedulingGates",
];

/// Supported keys of each object kind (anything else set is an error).
const POD_KEYS: &[&str] = &[
    "containers",
    "initContainers",
    "restartPolicy",
    "shareProcessNamespace",
    "hostname",
    "hostAliases",
    "hostNetwork",
    "hostIPC",
    "hostPID",
    "terminationGracePeriodSeconds",
    "volumes",
    "securityContext",
];
const CONTAINER_KEYS: &[&str] = &[
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
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
];
const ENV_KEYS: &[&str] = &["name", "value"];
const MOUNT_KEYS: &[&str] = &["name", "mountPath", "readOnly", "subPath"];
const VOLUME_KEYS: &[&str] = &["name", "emptyDir", "hostPath"];
const RESOURCE_KEYS: &[&str] = &["limits", "requests"];
const CONTAINER_SECURITY_KEYS: &[&str] = &[
    "privileged",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "capabilities",
];
const POD_SECURITY_KEYS: &[&str] = &["runAsUser", "runAsGroup", "runAsNonRoot"];
const LIFECYCLE_KEYS: &[&str] = &["preStop"];
const HANDLER_KEYS: &[&str] = &["exec"];
const PROBE_KEYS: &[&str] = &[
    "exec",
    "tcpSocket",
    "httpGet",
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
];

/// Read one manifest document.
pub fn from_document(document: Value) -> Result<Parsed, SpecError> {
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let (metadata, spec, spec_path, spec_json) = if kind == "Pod" {
        let spec_json = document.get("spec").cloned().unwrap_or(Value::Null);
        let pod: k8s::Pod = typed(document, "", &mut warnings)?;
        let spec = pod.spec.ok_or_else(|| {
            SpecError::field("spec", "required: a pod needs a spec with containers")
        })?;
        (pod.metadata, spec, "spec", spec_json)
    } else if let Some((_, api_version)) = WORKLOADS.iter().find(|(k, _)| *k == kind) {
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
        let metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta = typed(
            document.get("metadata").cloned().unwrap_or(Value::Null),
            "metadata",
            &mut warnings,
        )?;
        let template_json = document.pointer("/spec/template").cloned().ok_or_else(|| {
            SpecError::field(
                "spec.template",
                format!("required: a {kind} runs the pod of its template"),
            )
        })?;
        let spec_json = template_json.get("spec").cloned().unwrap_or(Value::Null);
        let template: k8s::PodTemplateSpec = typed(template_json, "spec.template", &mut warnings)?;
        let spec = template
            .spec
            .ok_or_else(|| SpecError::field("spec.template.spec", "required: the pod's spec"))?;
        let mut metadata = metadata;
        if let Some(labels) = template.metadata.and_then(|m| m.labels) {
            metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels);
        }
        notes.push(format!("a {kind}: one pod is run from its template (no controller: no replicas, retries or rollouts)"));
        (metadata, spec, "spec.template.spec", spec_json)
    } else if kind.is_empty() {
        return Err(SpecError::field(
            "kind",
            "required: Pod, Job, Deployment, ReplicaSet, DaemonSet or StatefulSet",
        ));
    } else {
        return Err(SpecError::field(
            "kind",
            format!(
                "{kind} is not supported: use Pod, Job, Deployment, ReplicaSet, DaemonSet or StatefulSet"
            ),
        ));
    };

    let mut errors = Vec::new();
    check_keys(&spec_json, spec_path, &mut errors, &mut warnings);
    // A key Kubernetes does not know is already a warning, not also "unsupported".
    let unknown: BTreeSet<String> = warnings
        .iter()
        .filter_map(|w| w.strip_suffix(": unknown field, ignored"))
        .map(String::from)
        .collect();
    errors.retain(|e| !unknown.contains(&e.path));
    let pod = to_model(metadata, spec, &kind, spec_path, spec_json, &mut errors);
    if !errors.is_empty() {
        return Err(SpecError::Invalid(errors));
    }
    Ok(Parsed {
        pod: pod.expect("no errors means a pod"),
        warnings,
        notes,
    })
}

/// Deserialize with field paths in errors and unknown fields as warnings.
fn typed<T: serde::de::DeserializeOwned>(
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
        warnings.push(format!("{}: unknown field, ignored", join(path)));
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

fn unsupported(path: String, errors: &mut Vec<FieldError>) {
    errors.push(FieldError {
        path,
        message: "not supported by podctl yet: remove it".into(),
    });
}

/// Errors for set fields this project does not support; warnings for cluster-only ones.
fn check_keys(spec: &Value, path: &str, errors: &mut Vec<FieldError>, warnings: &mut Vec<String>) {
    let Some(spec) = spec.as_object() else { return };
    for key in spec.keys() {
        if CLUSTER_ONLY.contains(&key.as_str()) {
            warnings.push(format!(
                "{path}.{key}: has no meaning on a single host, ignored"
            ));
        } else if !POD_KEYS.contains(&key.as_str()) {
            unsupported(format!("{path}.{key}"), errors);
        }
    }
    only(
        spec.get("securityContext"),
        &format!("{path}.securityContext"),
        POD_SECURITY_KEYS,
        errors,
    );
    for (list, name) in [
        ("initContainers", "initContainers"),
        ("containers", "containers"),
    ] {
        for (i, container) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{path}.{name}[{i}]");
            only(Some(container), &at, CONTAINER_KEYS, errors);
            for (j, env) in container
                .get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                only(Some(env), &format!("{at}.env[{j}]"), ENV_KEYS, errors);
            }
            for (j, mount) in container
                .get("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                only(
                    Some(mount),
                    &format!("{at}.volumeMounts[{j}]"),
                    MOUNT_KEYS,
                    errors,
                );
            }
            only(
                container.get("resources"),
                &format!("{at}.resources"),
                RESOURCE_KEYS,
                errors,
            );
            for side in ["limits", "requests"] {
                only(
                    container.pointer(&format!("/resources/{side}")),
                    &format!("{at}.resources.{side}"),
                    &["cpu", "memory"],
                    errors,
                );
            }
            only(
                container.get("securityContext"),
                &format!("{at}.securityContext"),
                CONTAINER_SECURITY_KEYS,
                errors,
            );
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                only(
                    container.get(probe),
                    &format!("{at}.{probe}"),
                    PROBE_KEYS,
                    errors,
                );
            }
            only(
                container.get("lifecycle"),
                &format!("{at}.lifecycle"),
                LIFECYCLE_KEYS,
                errors,
            );
            only(
                container.pointer("/lifecycle/preStop"),
                &format!("{at}.lifecycle.preStop"),
                HANDLER_KEYS,
                errors,
            );
        }
    }
    for (i, volume) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        only(
            Some(volume),
            &format!("{path}.volumes[{i}]"),
            VOLUME_KEYS,
            errors,
        );
    }
}

fn only(object: Option<&Value>, path: &str, allowed: &[&str], errors: &mut Vec<FieldError>) {
    for key in object
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|o| o.keys())
    {
        if !allowed.contains(&key.as_str()) {
            unsupported(format!("{path}.{key}"), errors);
        }
    }
}

/// DNS-1123 label: at most 63 of `a-z0-9-`, starting and ending alphanumeric.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// DNS-1123 subdomain: at most 253, dot-separated labels.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

fn to_model(
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    spec: k8s::PodSpec,
    kind: &str,
    path: &str,
    original: Value,
    errors: &mut Vec<FieldError>,
) -> Option<PodSpec> {
    let mut error = |p: String, m: String| {
        errors.push(FieldError {
            path: p,
            message: m,
        })
    };
    let name = metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        error("metadata.name".into(), "required: name the pod".into());
    } else if !is_dns_subdomain(&name) {
        error(
            "metadata.name".into(),
            format!(
                "{name:?} must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (DNS-1123)"
            ),
        );
    }
    let namespace = metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    if !is_dns_label(&namespace) {
        error(
            "metadata.namespace".into(),
            format!("{namespace:?} must be a DNS-1123 label"),
        );
    }

    let restart_policy = match spec.restart_policy.as_deref() {
        None if kind == "Job" => {
            error(
                format!("{path}.restartPolicy"),
                "required for a Job: OnFailure or Never".into(),
            );
            RestartPolicy::Never
        }
        None | Some("Always") => RestartPolicy::Always,
        Some("OnFailure") => RestartPolicy::OnFailure,
        Some("Never") => RestartPolicy::Never,
        Some(other) => {
            error(
                format!("{path}.restartPolicy"),
                format!("{other:?} is not one of Always, OnFailure, Never"),
            );
            RestartPolicy::Always
        }
    };
    if kind == "Job" && restart_policy == RestartPolicy::Always {
        error(
            format!("{path}.restartPolicy"),
            "a Job's pod must use OnFailure or Never".into(),
        );
    }
    if matches!(
        kind,
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet"
    ) && restart_policy != RestartPolicy::Always
    {
        error(
            format!("{path}.restartPolicy"),
            format!("a {kind}'s pod must use Always"),
        );
    }

    let mut volumes = Vec::new();
    let mut volume_names = BTreeSet::new();
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let at = format!("{path}.volumes[{i}]");
        if !is_dns_label(&volume.name) {
            error(
                format!("{at}.name"),
                format!("{:?} must be a DNS-1123 label", volume.name),
            );
        }
        if !volume_names.insert(volume.name.clone()) {
            error(
                format!("{at}.name"),
                format!("{:?} is declared twice", volume.name),
            );
        }
        let source =
            match (&volume.empty_dir, &volume.host_path) {
                (Some(_), Some(_)) => {
                    error(at.clone(), "set only one of emptyDir and hostPath".into());
                    continue;
                }
                (_, Some(host)) => {
                    if !host.path.starts_with('/') {
                        error(
                            format!("{at}.hostPath.path"),
                            format!("{:?} must be an absolute path", host.path),
                        );
                    }
                    VolumeSource::HostPath {
                        path: host.path.clone(),
                    }
                }
                (Some(empty), None) => {
                    let memory = match empty.medium.as_deref() {
                        None | Some("") => false,
                        Some("Memory") => true,
                        Some(other) => {
                            error(
                                format!("{at}.emptyDir.medium"),
                                format!("{other:?} is not supported: use \"\" or Memory"),
                            );
                            false
                        }
                    };
                    let size_limit = empty.size_limit.as_ref().and_then(|q| {
                        match quantity::memory_bytes(&q.0) {
                            Ok(bytes) => Some(bytes),
                            Err(e) => {
                                error(format!("{at}.emptyDir.sizeLimit"), e);
                                None
                            }
                        }
                    });
                    VolumeSource::EmptyDir { memory, size_limit }
                }
                // A volume with no source is an emptyDir.
                (None, None) => VolumeSource::EmptyDir {
                    memory: false,
                    size_limit: None,
                },
            };
        volumes.push(Volume {
            name: volume.name.clone(),
            source,
        });
    }

    let pod_security = spec.security_context.clone().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut convert_list = |list: &[k8s::Container],
                            field: &str,
                            init: bool,
                            error: &mut dyn FnMut(String, String)| {
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let at = format!("{path}.{field}[{i}]");
            out.push(container(
                c,
                &at,
                init,
                &pod_security,
                &volume_names,
                &mut names,
                error,
            ));
        }
        out
    };
    let init_containers = convert_list(
        spec.init_containers.as_deref().unwrap_or_default(),
        "initContainers",
        true,
        &mut error,
    );
    if spec.containers.is_empty() {
        error(
            format!("{path}.containers"),
            "required: at least one container".into(),
        );
    }
    let containers = convert_list(&spec.containers, "containers", false, &mut error);

    let hostname = match &spec.hostname {
        Some(h) if !is_dns_label(h) => {
            error(
                format!("{path}.hostname"),
                format!("{h:?} must be a DNS-1123 label"),
            );
            h.clone()
        }
        Some(h) => h.clone(),
        None => name
            .chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches(['-', '.'])
            .to_string(),
    };
    let grace = match spec.termination_grace_period_seconds {
        Some(s) if s < 0 => {
            error(
                format!("{path}.terminationGracePeriodSeconds"),
                format!("{s} is negative: use 0 or more"),
            );
            super::DEFAULT_GRACE_SECONDS
        }
        Some(s) => s as u64,
        None => super::DEFAULT_GRACE_SECONDS,
    };
    let host_aliases = spec
        .host_aliases
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, a)| {
            if a.ip.parse::<std::net::IpAddr>().is_err() {
                error(
                    format!("{path}.hostAliases[{i}].ip"),
                    format!("{:?} is not an IP address", a.ip),
                );
            }
            HostAlias {
                ip: a.ip.clone(),
                hostnames: a.hostnames.clone().unwrap_or_default(),
            }
        })
        .collect();
    if !errors.is_empty() {
        return None;
    }
    Some(PodSpec {
        name,
        namespace,
        labels: metadata.labels.unwrap_or_default(),
        source_kind: kind.to_string(),
        restart_policy,
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        hostname,
        host_aliases,
        host_network: spec.host_network.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        host_pid: spec.host_pid.unwrap_or(false),
        termination_grace_period_seconds: grace,
        init_containers,
        containers,
        volumes,
        original,
    })
}

fn container(
    c: &k8s::Container,
    at: &str,
    init: bool,
    pod_security: &k8s::PodSecurityContext,
    volumes: &BTreeSet<String>,
    names: &mut BTreeSet<String>,
    error: &mut dyn FnMut(String, String),
) -> Container {
    if !is_dns_label(&c.name) {
        error(
            format!("{at}.name"),
            format!(
                "{:?} must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)",
                c.name
            ),
        );
    } else if !names.insert(c.name.clone()) {
        error(
            format!("{at}.name"),
            format!(
                "{:?} is used by another container of the pod: names must be unique",
                c.name
            ),
        );
    }
    let image = c.image.clone().unwrap_or_default();
    if image.trim().is_empty() {
        error(
            format!("{at}.image"),
            "required: name an image, e.g. busybox".into(),
        );
    }
    // Kubernetes' default: Always for `latest` or no tag, else IfNotPresent.
    let image_pull_policy = c.image_pull_policy.clone().unwrap_or_else(|| {
        let reference = crate::image::Reference::parse(&image);
        let latest = reference.is_ok_and(|r| r.digest.is_none() && r.tag == "latest");
        if latest { "Always" } else { "IfNotPresent" }.into()
    });
    if !matches!(
        image_pull_policy.as_str(),
        "Always" | "IfNotPresent" | "Never"
    ) {
        error(
            format!("{at}.imagePullPolicy"),
            format!("{image_pull_policy:?} is not one of Always, IfNotPresent, Never"),
        );
    }
    let mut env = Vec::new();
    for (i, e) in c.env.iter().flatten().enumerate() {
        if e.name.is_empty() || e.name.contains('=') {
            error(
                format!("{at}.env[{i}].name"),
                format!("{:?} is not a valid variable name", e.name),
            );
        }
        env.push((e.name.clone(), e.value.clone().unwrap_or_default()));
    }
    let mut volume_mounts = Vec::new();
    let mut paths = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mat = format!("{at}.volumeMounts[{i}]");
        if !volumes.contains(&m.name) {
            error(
                format!("{mat}.name"),
                format!(
                    "{:?} is not a volume of the pod: declare it under volumes",
                    m.name
                ),
            );
        }
        if !m.mount_path.starts_with('/') {
            error(
                format!("{mat}.mountPath"),
                format!("{:?} must be an absolute path", m.mount_path),
            );
        } else if !paths.insert(m.mount_path.trim_end_matches('/').to_string()) {
            error(
                format!("{mat}.mountPath"),
                format!("{:?} is mounted twice", m.mount_path),
            );
        }
        let sub_path = m.sub_path.clone().filter(|s| !s.is_empty());
        if let Some(sub) = &sub_path
            && (sub.starts_with('/') || sub.split('/').any(|p| p == ".."))
        {
            error(
                format!("{mat}.subPath"),
                format!("{sub:?} must be a relative path without '..'"),
            );
        }
        volume_mounts.push(VolumeMount {
            name: m.name.clone(),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false),
            sub_path,
        });
    }
    let mut resources = Resources::default();
    if let Some(r) = &c.resources {
        let get =
            |side: &Option<
                BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
            >,
             key: &str| { side.as_ref().and_then(|m| m.get(key)).map(|q| q.0.clone()) };
        let mut parse = |side: &str, key: &str, text: Option<String>, cpu: bool| -> Option<u64> {
            let text = text?;
            let parsed = if cpu {
                quantity::cpu_millis(&text)
            } else {
                quantity::memory_bytes(&text)
            };
            parsed
                .map_err(|e| error(format!("{at}.resources.{side}.{key}"), e))
                .ok()
        };
        resources.cpu_limit = parse("limits", "cpu", get(&r.limits, "cpu"), true);
        resources.memory_limit = parse("limits", "memory", get(&r.limits, "memory"), false);
        // A limit without a request makes the request equal to the limit.
        resources.cpu_request =
            parse("requests", "cpu", get(&r.requests, "cpu"), true).or(resources.cpu_limit);
        resources.memory_request = parse("requests", "memory", get(&r.requests, "memory"), false)
            .or(resources.memory_limit);
        for (key, request, limit) in [
            ("cpu", resources.cpu_request, resources.cpu_limit),
            ("memory", resources.memory_request, resources.memory_limit),
        ] {
            if let (Some(request), Some(limit)) = (request, limit)
                && request > limit
            {
                error(
                    format!("{at}.resources.requests.{key}"),
                    "must be less than or equal to the limit".into(),
                );
            }
        }
    }
    let sc = c.security_context.clone().unwrap_or_default();
    let id = |v: Option<i64>, field: &str, error: &mut dyn FnMut(String, String)| -> Option<u32> {
        let v = v?;
        u32::try_from(v)
            .map_err(|_| {
                error(
                    format!("{at}.securityContext.{field}"),
                    format!("{v} is not a valid id"),
                )
            })
            .ok()
    };
    let run_as_user = id(
        sc.run_as_user.or(pod_security.run_as_user),
        "runAsUser",
        error,
    );
    let run_as_group = id(
        sc.run_as_group.or(pod_security.run_as_group),
        "runAsGroup",
        error,
    );
    let caps = sc.capabilities.clone().unwrap_or_default();
    let security = SecurityContext {
        privileged: sc.privileged.unwrap_or(false),
        allow_privilege_escalation: sc.allow_privilege_escalation,
        read_only_root_filesystem: sc.read_only_root_filesystem.unwrap_or(false),
        run_as_user,
        run_as_group,
        run_as_non_root: sc
            .run_as_non_root
            .or(pod_security.run_as_non_root)
            .unwrap_or(false),
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
    };
    if security.run_as_non_root && security.run_as_user == Some(0) {
        error(
            format!("{at}.securityContext.runAsNonRoot"),
            "runAsUser is 0 (root) while runAsNonRoot is true".into(),
        );
    }
    let restart_policy = match c.restart_policy.as_deref() {
        None => None,
        Some("Always") if init => Some(RestartPolicy::Always),
        Some(other) if init => {
            error(
                format!("{at}.restartPolicy"),
                format!(
                    "{other:?}: an init container's restartPolicy may only be Always (a sidecar)"
                ),
            );
            None
        }
        Some(_) => {
            error(
                format!("{at}.restartPolicy"),
                "only init containers (sidecars) may set restartPolicy".into(),
            );
            None
        }
    };
    let pre_stop = c
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.exec.as_ref())
        .and_then(|e| e.command.clone());
    let probe = |field: &str,
                 p: &Option<k8s::Probe>,
                 error: &mut dyn FnMut(String, String)|
     -> Option<Probe> {
        let p = p.as_ref()?;
        let at = format!("{at}.{field}");
        let port_of = |port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
                       error: &mut dyn FnMut(String, String),
                       path: String|
         -> u16 {
            use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
            let number = match port {
                IntOrString::Int(n) => Some(*n),
                IntOrString::String(name) => c
                    .ports
                    .iter()
                    .flatten()
                    .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                    .map(|cp| cp.container_port),
            };
            match number
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
            {
                Some(n) => n,
                None => {
                    error(
                        path,
                        format!("{port:?} is not a port number or a named port of the container"),
                    );
                    0
                }
            }
        };
        let action = match (&p.exec, &p.tcp_socket, &p.http_get) {
            (Some(exec), None, None) => ProbeAction::Exec(exec.command.clone().unwrap_or_default()),
            (None, Some(tcp), None) => ProbeAction::TcpSocket {
                port: port_of(&tcp.port, error, format!("{at}.tcpSocket.port")),
            },
            (None, None, Some(http)) => {
                if http.scheme.as_deref().is_some_and(|s| s != "HTTP") {
                    error(
                        format!("{at}.httpGet.scheme"),
                        "only HTTP is supported".into(),
                    );
                }
                ProbeAction::HttpGet {
                    port: port_of(&http.port, error, format!("{at}.httpGet.port")),
                    path: http.path.clone().unwrap_or_else(|| "/".into()),
                }
            }
            _ => {
                error(
                    at.clone(),
                    "set exactly one of exec, tcpSocket and httpGet".into(),
                );
                return None;
            }
        };
        let positive = |v: Option<i32>,
                        default: i32,
                        name: &str,
                        error: &mut dyn FnMut(String, String)|
         -> u64 {
            let v = v.unwrap_or(default);
            if v < 0 {
                error(format!("{at}.{name}"), format!("{v} is negative"));
            }
            v.max(0) as u64
        };
        let probe = Probe {
            action,
            initial_delay_seconds: positive(
                p.initial_delay_seconds,
                0,
                "initialDelaySeconds",
                error,
            ),
            period_seconds: positive(p.period_seconds, 10, "periodSeconds", error).max(1),
            timeout_seconds: positive(p.timeout_seconds, 1, "timeoutSeconds", error).max(1),
            success_threshold: positive(p.success_threshold, 1, "successThreshold", error).max(1)
                as u32,
            failure_threshold: positive(p.failure_threshold, 3, "failureThreshold", error).max(1)
                as u32,
        };
        if field != "readinessProbe" && probe.success_threshold != 1 {
            error(
                format!("{at}.successThreshold"),
                "must be 1 for liveness and startup probes".into(),
            );
        }
        Some(probe)
    };
    let mut ports = Vec::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let pat = format!("{at}.ports[{i}]");
        let number = |n: i32, field: &str, error: &mut dyn FnMut(String, String)| {
            u16::try_from(n).ok().filter(|n| *n > 0).or_else(|| {
                error(
                    format!("{pat}.{field}"),
                    format!("{n} is not a port number: use 1 to 65535"),
                );
                None
            })
        };
        let container_port = number(p.container_port, "containerPort", error).unwrap_or(0);
        let host_port = p.host_port.and_then(|n| number(n, "hostPort", error));
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
            error(
                format!("{pat}.protocol"),
                format!("{protocol:?} is not one of TCP, UDP, SCTP"),
            );
        }
        let host_ip = p.host_ip.clone().filter(|h| !h.is_empty());
        if let Some(ip) = &host_ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            error(
                format!("{pat}.hostIP"),
                format!("{ip:?} is not an IP address"),
            );
        }
        ports.push(ContainerPort {
            name: p.name.clone(),
            container_port,
            host_port,
            protocol,
            host_ip,
        });
    }
    let liveness_probe = probe("livenessProbe", &c.liveness_probe, error);
    let readiness_probe = probe("readinessProbe", &c.readiness_probe, error);
    let startup_probe = probe("startupProbe", &c.startup_probe, error);
    Container {
        liveness_probe,
        readiness_probe,
        startup_probe,
        name: c.name.clone(),
        image,
        image_pull_policy,
        command: c.command.clone(),
        args: c.args.clone(),
        env,
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        volume_mounts,
        resources,
        security,
        restart_policy,
        pre_stop,
        ports,
    }
}
