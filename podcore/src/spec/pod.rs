//! Pod-level rules: the pod's name and namespace, its restart policy (and
//! what its kind allows), hostname, grace period and host aliases; its
//! volumes and containers are checked by [`super::volume`] and
//! [`super::container`].

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::defaults;
use super::field::Field;
use super::model::*;
use super::names::{is_dns_label, is_dns_subdomain};

/// The pod of a document as podcore runs it; None when a rule is broken
/// (each broken rule is an error at its field).
pub(super) fn to_model(
    metadata: ObjectMeta,
    spec: k8s::PodSpec,
    kind: &str,
    at: &Field,
    original: Value,
) -> Option<PodSpec> {
    let meta = at.document("metadata");
    let name = metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        meta.at("name").error("required: name the pod");
    } else if !is_dns_subdomain(&name) {
        meta.at("name").error(format!(
            "{name:?} must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (DNS-1123)"
        ));
    }
    let namespace = metadata
        .namespace
        .clone()
        .unwrap_or_else(|| defaults::NAMESPACE.into());
    if !is_dns_label(&namespace) {
        meta.at("namespace")
            .error(format!("{namespace:?} must be a DNS-1123 label"));
    }
    let restart_policy = restart_policy(
        spec.restart_policy.as_deref(),
        kind,
        &at.at("restartPolicy"),
    );
    let volumes = super::volume::volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &at.at("volumes"),
    );
    let volume_names: BTreeSet<String> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.clone())
        .collect();
    let pod_security = spec.security_context.clone().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut containers_of = |list: &[k8s::Container], field: &str, init: bool| -> Vec<Container> {
        let at = at.at(field);
        list.iter()
            .enumerate()
            .map(|(i, c)| {
                let pod = super::container::InPod {
                    init,
                    security: &pod_security,
                    volumes: &volume_names,
                };
                super::container::container(c, &at.item(i), &pod, &mut names)
            })
            .collect()
    };
    let init_containers = containers_of(
        spec.init_containers.as_deref().unwrap_or_default(),
        "initContainers",
        true,
    );
    if spec.containers.is_empty() {
        at.at("containers")
            .error("required: at least one container");
    }
    let containers = containers_of(&spec.containers, "containers", false);
    let hostname = match &spec.hostname {
        Some(h) => {
            if !is_dns_label(h) {
                at.at("hostname")
                    .error(format!("{h:?} must be a DNS-1123 label"));
            }
            h.clone()
        }
        None => defaults::hostname(&name),
    };
    let subdomain = spec.subdomain.clone().filter(|s| !s.is_empty());
    if let Some(sub) = &subdomain
        && !is_dns_label(sub)
    {
        at.at("subdomain")
            .error(format!("{sub:?} must be a DNS-1123 label"));
    }
    let dns = dns(&spec, &at.clone());
    let sysctls = sysctls(
        &pod_security,
        (
            spec.host_network.unwrap_or(false),
            spec.host_ipc.unwrap_or(false),
        ),
        &at.at("securityContext.sysctls"),
    );
    let fs_group = pod_security.fs_group.and_then(|g| {
        u32::try_from(g)
            .map_err(|_| {
                at.at("securityContext.fsGroup")
                    .error(format!("{g} is not a valid group id"))
            })
            .ok()
    });
    let grace = match spec.termination_grace_period_seconds {
        Some(s) if s < 0 => {
            at.at("terminationGracePeriodSeconds")
                .error(format!("{s} is negative: use 0 or more"));
            defaults::GRACE_SECONDS
        }
        Some(s) => s as u64,
        None => defaults::GRACE_SECONDS,
    };
    let host_aliases = spec
        .host_aliases
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, a)| {
            if a.ip.parse::<std::net::IpAddr>().is_err() {
                at.at("hostAliases")
                    .item(i)
                    .at("ip")
                    .error(format!("{:?} is not an IP address", a.ip));
            }
            HostAlias {
                ip: a.ip.clone(),
                hostnames: a.hostnames.clone().unwrap_or_default(),
            }
        })
        .collect();
    if at.has_errors() {
        return None;
    }
    Some(PodSpec {
        name,
        namespace,
        labels: metadata.labels.unwrap_or_default(),
        annotations: metadata.annotations.unwrap_or_default(),
        service_account_name: spec
            .service_account_name
            .clone()
            .or_else(|| spec.service_account.clone()),
        source_kind: kind.to_string(),
        restart_policy,
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        hostname,
        host_aliases,
        subdomain,
        hostname_as_fqdn: spec.set_hostname_as_fqdn.unwrap_or(false),
        dns,
        sysctls,
        fs_group,
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

/// The sysctls a pod may set without the kubelet's `--allowed-unsafe-sysctls`:
/// namespaced, and unable to hurt other pods or the host.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// `securityContext.sysctls`: safe ones only; none of the network ones
/// with `hostNetwork`, nor the IPC ones with `hostIPC` (they would change
/// the host's).
fn sysctls(
    security: &k8s::PodSecurityContext,
    (host_network, host_ipc): (bool, bool),
    at: &Field,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, s) in security.sysctls.iter().flatten().enumerate() {
        let name = s.name.replace('/', ".");
        if !SAFE_SYSCTLS.contains(&name.as_str()) {
            at.item(i).at("name").error(format!(
                "{name:?} is not a safe namespaced sysctl (SysctlForbidden): use one of {}",
                SAFE_SYSCTLS.join(", ")
            ));
        } else if host_network && name.starts_with("net.") {
            at.item(i).at("name").error(format!(
                "{name:?} would change the host's network: not with hostNetwork"
            ));
        } else if host_ipc && name.starts_with("kernel.") {
            at.item(i).at("name").error(format!(
                "{name:?} would change the host's IPC namespace: not with hostIPC"
            ));
        } else {
            out.push((name, s.value.clone()));
        }
    }
    out
}

/// Most nameservers and search domains a resolv.conf may hold (the kubelet's limits).
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;

/// `dnsPolicy` and `dnsConfig` (`at` is the pod spec).
fn dns(spec: &k8s::PodSpec, at: &Field) -> Dns {
    let policy = match spec.dns_policy.as_deref() {
        None | Some("") => DnsPolicy::ClusterFirst,
        Some(p) => p.parse().unwrap_or_else(|_| {
            at.at("dnsPolicy").error(format!(
                "{p:?} is not one of ClusterFirst, ClusterFirstWithHostNet, Default, None"
            ));
            DnsPolicy::ClusterFirst
        }),
    };
    let config = spec.dns_config.clone().unwrap_or_default();
    let nameservers = config.nameservers.unwrap_or_default();
    let at_config = at.at("dnsConfig");
    for (i, ns) in nameservers.iter().enumerate() {
        if ns.parse::<std::net::IpAddr>().is_err() {
            at_config
                .at("nameservers")
                .item(i)
                .error(format!("{ns:?} is not an IP address"));
        }
    }
    if nameservers.len() > MAX_NAMESERVERS {
        at_config
            .at("nameservers")
            .error(format!("at most {MAX_NAMESERVERS} nameservers"));
    }
    if policy == DnsPolicy::None && nameservers.is_empty() {
        at_config
            .at("nameservers")
            .error("required when dnsPolicy is None: the pod would have no DNS server");
    }
    let searches = config.searches.unwrap_or_default();
    if searches.len() > MAX_SEARCHES {
        at_config
            .at("searches")
            .error(format!("at most {MAX_SEARCHES} search domains"));
    }
    let options = config
        .options
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.name.unwrap_or_default(), o.value))
        .collect();
    Dns {
        policy,
        nameservers,
        searches,
        options,
    }
}

/// `restartPolicy`, with what the pod's kind allows: a Job's pod must set
/// OnFailure or Never, the other workloads' pods Always.
fn restart_policy(given: Option<&str>, kind: &str, at: &Field) -> RestartPolicy {
    let policy = match given {
        None if kind == "Job" => {
            at.error("required for a Job: OnFailure or Never");
            return RestartPolicy::Never;
        }
        None | Some("Always") => RestartPolicy::Always,
        Some("OnFailure") => RestartPolicy::OnFailure,
        Some("Never") => RestartPolicy::Never,
        Some(other) => {
            at.error(format!("{other:?} is not one of Always, OnFailure, Never"));
            return RestartPolicy::Always;
        }
    };
    if kind == "Job" && policy == RestartPolicy::Always {
        at.error("a Job's pod must use OnFailure or Never");
    }
    let controller = matches!(
        kind,
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet"
    );
    if controller && policy != RestartPolicy::Always {
        at.error(format!("a {kind}'s pod must use Always"));
    }
    policy
}
