//! A pod as Kubernetes' API shows it (`k8s-openapi` types), so that tools
//! written for `kubectl get pod -o json` read podctl's output.

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

pub mod columns;

use crate::pod::PodRecord;
use crate::spec::PodSpec;
use crate::status::{ContainerState, ContainerStatus, PodReason, PodStatus, Terminated};

fn time(t: chrono::DateTime<chrono::Utc>) -> Time {
    Time(t)
}

fn terminated(t: &Terminated) -> k8s::ContainerStateTerminated {
    k8s::ContainerStateTerminated {
        exit_code: t.exit_code,
        signal: t.signal,
        reason: Some(t.reason.to_string()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        container_id: None,
    }
}

fn state(s: &ContainerState) -> k8s::ContainerState {
    match s {
        ContainerState::Waiting { reason, message } => k8s::ContainerState {
            waiting: Some(k8s::ContainerStateWaiting {
                reason: Some(reason.to_string()),
                message: message.clone(),
            }),
            ..Default::default()
        },
        ContainerState::Running { started_at } => k8s::ContainerState {
            running: Some(k8s::ContainerStateRunning {
                started_at: Some(time(*started_at)),
            }),
            ..Default::default()
        },
        ContainerState::Terminated(t) => k8s::ContainerState {
            terminated: Some(terminated(t)),
            ..Default::default()
        },
    }
}

fn container_status(s: &ContainerStatus, spec: &PodSpec) -> k8s::ContainerStatus {
    let mounts = spec.all_containers().find(|c| c.name == s.name).map(|c| {
        c.volume_mounts
            .iter()
            .map(|m| k8s::VolumeMountStatus {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect()
    });
    k8s::ContainerStatus {
        volume_mounts: mounts.filter(|m: &Vec<_>| !m.is_empty()),
        name: s.name.clone(),
        image: s.image.clone(),
        image_id: s.image_id.clone(),
        container_id: Some(format!("podctl://{}", s.container_id)),
        state: Some(state(&s.state)),
        last_state: Some(
            s.last_state
                .as_ref()
                .map_or_else(k8s::ContainerState::default, |t| k8s::ContainerState {
                    terminated: Some(terminated(t)),
                    ..Default::default()
                }),
        ),
        restart_count: s.restart_count as i32,
        ready: s.ready,
        started: Some(s.started),
        ..Default::default()
    }
}

/// A pod whose record cannot be read, as an object: its name and uid, phase
/// `Unknown`, and why (reason `RecordUnreadable`).
pub fn unreadable_pod_object(namespace: &str, name: &str, uid: &str, why: &str) -> k8s::Pod {
    k8s::Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            uid: Some(uid.to_string()),
            ..Default::default()
        },
        spec: None,
        status: Some(k8s::PodStatus {
            phase: Some("Unknown".into()),
            reason: Some(PodReason::RecordUnreadable.to_string()),
            message: Some(format!("{why}; `podctl delete pod {name}` removes it")),
            ..Default::default()
        }),
    }
}

/// What an API server fills in that a manifest left out, as `kubectl get
/// -o yaml` shows it.
fn with_defaults(mut spec: k8s::PodSpec, model: &PodSpec) -> k8s::PodSpec {
    let set = |field: &mut Option<String>, value: &str| {
        field.get_or_insert_with(|| value.to_string());
    };
    set(
        &mut spec.restart_policy,
        &format!("{:?}", model.restart_policy),
    );
    set(&mut spec.dns_policy, "ClusterFirst");
    set(&mut spec.scheduler_name, "default-scheduler");
    if let Ok(host) = nix::unistd::gethostname()
        && let Some(host) = host.to_str()
    {
        set(&mut spec.node_name, host);
    }
    spec.termination_grace_period_seconds
        .get_or_insert(model.termination_grace_period_seconds as i64);
    spec.enable_service_links.get_or_insert(true);
    let lists = [
        (
            spec.init_containers
                .iter_mut()
                .flatten()
                .collect::<Vec<_>>(),
            &model.init_containers,
        ),
        (spec.containers.iter_mut().collect(), &model.containers),
    ];
    for (containers, models) in lists {
        for (c, m) in containers.into_iter().zip(models) {
            set(&mut c.image_pull_policy, &m.image_pull_policy);
            set(&mut c.termination_message_path, "/dev/termination-log");
            set(&mut c.termination_message_policy, "File");
        }
    }
    spec
}

/// The `v1/Pod` object of a pod.
pub fn pod_object(record: &PodRecord, status: Option<&PodStatus>) -> k8s::Pod {
    let spec: Option<k8s::PodSpec> = serde_json::from_value(record.spec.original.clone())
        .ok()
        .map(|spec| with_defaults(spec, &record.spec));
    let model = &record.spec;
    let status = status.map(|s| k8s::PodStatus {
        phase: Some(s.phase.as_str().to_string()),
        reason: s.reason.map(|r| r.to_string()),
        message: s.message.clone(),
        start_time: s.start_time.map(time),
        pod_ip: s.pod_ip.clone(),
        pod_ips: (!s.pod_ips.is_empty()).then(|| {
            s.pod_ips
                .iter()
                .map(|ip| k8s::PodIP { ip: ip.clone() })
                .collect()
        }),
        host_ip: s.host_ip.clone(),
        host_ips: s.host_ip.clone().map(|ip| vec![k8s::HostIP { ip }]),
        qos_class: Some(s.qos_class.to_string()),
        conditions: Some(
            s.conditions
                .iter()
                .map(|c| k8s::PodCondition {
                    type_: c.kind.to_string(),
                    status: if c.status { "True" } else { "False" }.into(),
                    last_transition_time: Some(time(c.last_transition_time)),
                    ..Default::default()
                })
                .collect(),
        ),
        init_container_statuses: (!s.init_containers.is_empty()).then(|| {
            s.init_containers
                .iter()
                .map(|c| container_status(c, model))
                .collect()
        }),
        container_statuses: Some(
            s.containers
                .iter()
                .map(|c| container_status(c, model))
                .collect(),
        ),
        ..Default::default()
    });
    k8s::Pod {
        metadata: ObjectMeta {
            name: Some(record.spec.name.clone()),
            namespace: Some(record.spec.namespace.clone()),
            uid: Some(record.uid.clone()),
            creation_timestamp: Some(time(record.created)),
            labels: (!record.spec.labels.is_empty()).then(|| record.spec.labels.clone()),
            annotations: (!record.spec.annotations.is_empty())
                .then(|| record.spec.annotations.clone()),
            ..Default::default()
        },
        spec,
        status,
    }
}
