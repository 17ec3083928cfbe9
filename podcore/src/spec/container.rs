//! Container-level rules: name, image and pull policy, env, mounts,
//! resources, security context, restart policy (sidecars), preStop and
//! ports; probes are [`super::probe`]'s.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::defaults;
use super::field::Field;
use super::model::*;
use super::names::is_dns_label;
use super::quantity;

/// What a container's rules need of its pod.
pub(super) struct InPod<'a> {
    /// Whether it is an init container.
    pub init: bool,
    /// The pod's security context, whose ids it inherits.
    pub security: &'a k8s::PodSecurityContext,
    /// The pod's volume names, which its mounts must use.
    pub volumes: &'a BTreeSet<String>,
}

/// A container of the pod (`at` is `spec.containers[i]`); `names` are the
/// container names taken so far.
pub(super) fn container(
    c: &k8s::Container,
    at: &Field,
    pod: &InPod,
    names: &mut BTreeSet<String>,
) -> Container {
    if !is_dns_label(&c.name) {
        at.at("name").error(format!(
            "{:?} must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)",
            c.name
        ));
    } else if !names.insert(c.name.clone()) {
        at.at("name").error(format!(
            "{:?} is used by another container of the pod: names must be unique",
            c.name
        ));
    }
    let image = c.image.clone().unwrap_or_default();
    if image.trim().is_empty() {
        at.at("image")
            .error("required: name an image, e.g. busybox");
    }
    let image_pull_policy = c
        .image_pull_policy
        .clone()
        .unwrap_or_else(|| defaults::image_pull_policy(&image).into());
    if !matches!(
        image_pull_policy.as_str(),
        "Always" | "IfNotPresent" | "Never"
    ) {
        at.at("imagePullPolicy").error(format!(
            "{image_pull_policy:?} is not one of Always, IfNotPresent, Never"
        ));
    }
    let env = super::env::env(c.env.as_deref().unwrap_or_default(), &c.name, &at.at("env"));
    let env_from =
        super::env::env_from(c.env_from.as_deref().unwrap_or_default(), &at.at("envFrom"));
    Container {
        liveness_probe: super::probe::probe(c, "livenessProbe", at),
        readiness_probe: super::probe::probe(c, "readinessProbe", at),
        startup_probe: super::probe::probe(c, "startupProbe", at),
        name: c.name.clone(),
        image,
        image_pull_policy,
        command: c.command.clone(),
        args: c.args.clone(),
        env,
        env_from,
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        volume_mounts: mounts(c, pod.volumes, &at.at("volumeMounts")),
        resources: c
            .resources
            .as_ref()
            .map(|r| resources(r, &at.at("resources")))
            .unwrap_or_default(),
        security: security(c, pod.security, &at.at("securityContext")),
        restart_policy: restart_policy(c, pod.init, &at.at("restartPolicy")),
        pre_stop: c
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.exec.as_ref())
            .and_then(|e| e.command.clone()),
        post_start: post_start(c, &at.at("lifecycle.postStart")),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        ports: ports(c, &at.at("ports")),
        termination_message_path: termination_message_path(c, &at.at("terminationMessagePath")),
        termination_message_policy: termination_message_policy(
            c,
            &at.at("terminationMessagePolicy"),
        ),
    }
}

/// `lifecycle.postStart`: exec or httpGet (HTTP on the pod's own address).
fn post_start(c: &k8s::Container, at: &Field) -> Option<ProbeAction> {
    let handler = c.lifecycle.as_ref()?.post_start.as_ref()?;
    match (&handler.exec, &handler.http_get) {
        (Some(exec), None) => Some(ProbeAction::Exec(exec.command.clone().unwrap_or_default())),
        (None, Some(http)) => {
            if http.scheme.as_deref().is_some_and(|s| s != "HTTP") {
                at.at("httpGet.scheme").error("only HTTP is supported");
            }
            if http.host.as_deref().is_some_and(|h| !h.is_empty()) {
                at.at("httpGet.host")
                    .error("not supported: the hook calls the pod's own address");
            }
            Some(ProbeAction::HttpGet {
                port: super::probe::port(c, &http.port, &at.at("httpGet.port")),
                path: http
                    .path
                    .clone()
                    .unwrap_or_else(|| defaults::HTTP_PATH.into()),
            })
        }
        _ => {
            at.error("set exactly one of exec and httpGet");
            None
        }
    }
}

/// `terminationMessagePath`: an absolute path (default `/dev/termination-log`).
fn termination_message_path(c: &k8s::Container, at: &Field) -> String {
    match c.termination_message_path.clone().filter(|p| !p.is_empty()) {
        None => defaults::TERMINATION_MESSAGE_PATH.into(),
        Some(path) if path.starts_with('/') && !path.split('/').any(|p| p == "..") => path,
        Some(path) => {
            at.error(format!("{path:?} must be an absolute path without '..'"));
            path
        }
    }
}

/// `terminationMessagePolicy`: File or FallbackToLogsOnError.
fn termination_message_policy(c: &k8s::Container, at: &Field) -> TerminationMessagePolicy {
    match c.termination_message_policy.as_deref() {
        None | Some("File") => TerminationMessagePolicy::File,
        Some("FallbackToLogsOnError") => TerminationMessagePolicy::FallbackToLogsOnError,
        Some(other) => {
            at.error(format!(
                "{other:?} is not one of File, FallbackToLogsOnError"
            ));
            TerminationMessagePolicy::File
        }
    }
}

/// `volumeMounts`: of the pod's volumes, at absolute paths, each path once,
/// `subPath` relative and without `..`.
fn mounts(c: &k8s::Container, volumes: &BTreeSet<String>, at: &Field) -> Vec<VolumeMount> {
    let mut paths = BTreeSet::new();
    let mut out = Vec::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let at = at.item(i);
        if !volumes.contains(&m.name) {
            at.at("name").error(format!(
                "{:?} is not a volume of the pod: declare it under volumes",
                m.name
            ));
        }
        if !m.mount_path.starts_with('/') {
            at.at("mountPath")
                .error(format!("{:?} must be an absolute path", m.mount_path));
        } else if !paths.insert(m.mount_path.trim_end_matches('/').to_string()) {
            at.at("mountPath")
                .error(format!("{:?} is mounted twice", m.mount_path));
        }
        let sub_path = m.sub_path.clone().filter(|s| !s.is_empty());
        if let Some(sub) = &sub_path
            && (sub.starts_with('/') || sub.split('/').any(|p| p == ".."))
        {
            at.at("subPath")
                .error(format!("{sub:?} must be a relative path without '..'"));
        }
        out.push(VolumeMount {
            name: m.name.clone(),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false),
            sub_path,
        });
    }
    out
}

/// `resources`: cpu and memory quantities; a limit without a request is
/// also the request; a request above its limit is an error.
fn resources(r: &k8s::ResourceRequirements, at: &Field) -> Resources {
    let parse = |side: &Option<BTreeMap<String, Quantity>>, name: &str, key: &str| {
        let text = &side.as_ref()?.get(key)?.0;
        let parsed = if key == "cpu" {
            quantity::cpu_millis(text)
        } else {
            quantity::memory_bytes(text)
        };
        parsed.map_err(|e| at.at(name).at(key).error(e)).ok()
    };
    let cpu_limit = parse(&r.limits, "limits", "cpu");
    let memory_limit = parse(&r.limits, "limits", "memory");
    let resources = Resources {
        cpu_limit,
        memory_limit,
        cpu_request: parse(&r.requests, "requests", "cpu").or(cpu_limit),
        memory_request: parse(&r.requests, "requests", "memory").or(memory_limit),
    };
    for (key, request, limit) in [
        ("cpu", resources.cpu_request, resources.cpu_limit),
        ("memory", resources.memory_request, resources.memory_limit),
    ] {
        if let (Some(request), Some(limit)) = (request, limit)
            && request > limit
        {
            at.at("requests")
                .at(key)
                .error("must be less than or equal to the limit");
        }
    }
    resources
}

/// `securityContext`, with the pod's ids and runAsNonRoot where the container sets none.
fn security(c: &k8s::Container, pod: &k8s::PodSecurityContext, at: &Field) -> SecurityContext {
    let sc = c.security_context.clone().unwrap_or_default();
    let id = |v: Option<i64>, field: &str| -> Option<u32> {
        let v = v?;
        u32::try_from(v)
            .map_err(|_| at.at(field).error(format!("{v} is not a valid id")))
            .ok()
    };
    let caps = sc.capabilities.clone().unwrap_or_default();
    let security = SecurityContext {
        privileged: sc.privileged.unwrap_or(false),
        allow_privilege_escalation: sc.allow_privilege_escalation,
        read_only_root_filesystem: sc.read_only_root_filesystem.unwrap_or(false),
        run_as_user: id(sc.run_as_user.or(pod.run_as_user), "runAsUser"),
        run_as_group: id(sc.run_as_group.or(pod.run_as_group), "runAsGroup"),
        run_as_non_root: sc.run_as_non_root.or(pod.run_as_non_root).unwrap_or(false),
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
        supplemental_groups: pod
            .supplemental_groups
            .iter()
            .flatten()
            .chain(pod.fs_group.iter())
            .filter_map(|g| u32::try_from(*g).ok())
            .collect(),
        seccomp: seccomp(
            sc.seccomp_profile.as_ref().or(pod.seccomp_profile.as_ref()),
            &at.at("seccompProfile"),
        ),
    };
    if security.run_as_non_root && security.run_as_user == Some(0) {
        at.at("runAsNonRoot")
            .error("runAsUser is 0 (root) while runAsNonRoot is true");
    }
    security
}

/// `seccompProfile`: RuntimeDefault (also when none is given), Unconfined,
/// or Localhost with a relative `localhostProfile`.
fn seccomp(profile: Option<&k8s::SeccompProfile>, at: &Field) -> Seccomp {
    let Some(profile) = profile else {
        return Seccomp::RuntimeDefault;
    };
    match profile.type_.as_str() {
        "RuntimeDefault" => Seccomp::RuntimeDefault,
        "Unconfined" => Seccomp::Unconfined,
        "Localhost" => match profile.localhost_profile.as_deref() {
            Some(path)
                if !path.is_empty()
                    && !path.starts_with('/')
                    && !path.split('/').any(|p| p == "..") =>
            {
                Seccomp::Localhost(path.to_string())
            }
            other => {
                at.at("localhostProfile").error(format!(
                    "{other:?}: Localhost needs a relative path without '..' to a profile in podctl's seccomp folder"
                ));
                Seccomp::RuntimeDefault
            }
        },
        other => {
            at.at("type").error(format!(
                "{other:?} is not one of RuntimeDefault, Unconfined, Localhost"
            ));
            Seccomp::RuntimeDefault
        }
    }
}

/// A container's `restartPolicy`: only `Always`, only on init containers (sidecars).
fn restart_policy(c: &k8s::Container, init: bool, at: &Field) -> Option<RestartPolicy> {
    match c.restart_policy.as_deref() {
        None => None,
        Some("Always") if init => Some(RestartPolicy::Always),
        Some(other) if init => {
            at.error(format!(
                "{other:?}: an init container's restartPolicy may only be Always (a sidecar)"
            ));
            None
        }
        Some(_) => {
            at.error("only init containers (sidecars) may set restartPolicy");
            None
        }
    }
}

/// `ports`: numbers 1 to 65535, TCP, UDP or SCTP, host IPs that are addresses.
fn ports(c: &k8s::Container, at: &Field) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let at = at.item(i);
        let number = |n: i32, field: &str| {
            u16::try_from(n).ok().filter(|n| *n > 0).or_else(|| {
                at.at(field)
                    .error(format!("{n} is not a port number: use 1 to 65535"));
                None
            })
        };
        let container_port = number(p.container_port, "containerPort").unwrap_or(0);
        let host_port = p.host_port.and_then(|n| number(n, "hostPort"));
        let protocol = p
            .protocol
            .clone()
            .unwrap_or_else(|| defaults::PROTOCOL.into());
        if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
            at.at("protocol")
                .error(format!("{protocol:?} is not one of TCP, UDP, SCTP"));
        }
        let host_ip = p.host_ip.clone().filter(|h| !h.is_empty());
        if let Some(ip) = &host_ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            at.at("hostIP")
                .error(format!("{ip:?} is not an IP address"));
        }
        out.push(ContainerPort {
            name: p.name.clone(),
            container_port,
            host_port,
            protocol,
            host_ip,
        });
    }
    out
}
