//! The Downward API: the facts of a pod a container may read, in env
//! (`valueFrom.fieldRef`, `.resourceFieldRef`) and in `downwardAPI` volumes,
//! with the kubelet's formats (labels and annotations as `key="value"`
//! lines, resources divided by their divisor and rounded up, a limit not
//! set as the node's capacity).

use std::collections::BTreeMap;

use crate::pod::PodRecord;
use crate::spec::{DownwardField, PodSpec};

/// What the Downward API can tell of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodFacts {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The node's name: this host's.
    pub node_name: String,
    pub service_account_name: String,
    pub pod_ips: Vec<String>,
    pub host_ips: Vec<String>,
    /// The node's capacity: milli-CPU and bytes, for limits not set.
    pub cpu_capacity_millis: u64,
    pub memory_capacity: u64,
}

impl PodFacts {
    /// The facts of a pod from its record, addresses and this host.
    pub fn of(record: &PodRecord, pod_ips: &[String], host_ip: Option<&str>) -> Self {
        let spec = &record.spec;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        Self {
            name: spec.name.clone(),
            namespace: spec.namespace.clone(),
            uid: record.uid.clone(),
            labels: spec.labels.clone(),
            annotations: spec.annotations.clone(),
            node_name: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
            service_account_name: spec.service_account_name.clone().unwrap_or_default(),
            pod_ips: pod_ips.to_vec(),
            host_ips: host_ip.map(str::to_string).into_iter().collect(),
            cpu_capacity_millis: cpus * 1000,
            memory_capacity: crate::container::host::memory_capacity(
                &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
            ),
        }
    }
}

/// Why a Downward API value has none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownwardError {
    #[error("resourceFieldRef: container {0:?} is not in the pod")]
    NoContainer(String),
}

/// The value of `field` for the pod `spec` with `facts`.
pub fn value(
    field: &DownwardField,
    spec: &PodSpec,
    facts: &PodFacts,
) -> Result<String, DownwardError> {
    match field {
        DownwardField::Field(path) => Ok(field_value(path, facts)),
        DownwardField::Resource {
            container,
            resource,
            divisor,
        } => {
            let c = spec
                .all_containers()
                .find(|c| &c.name == container)
                .ok_or_else(|| DownwardError::NoContainer(container.clone()))?;
            let r = &c.resources;
            let amount = match resource.as_str() {
                "limits.cpu" => r.cpu_limit.unwrap_or(facts.cpu_capacity_millis),
                "limits.memory" => r.memory_limit.unwrap_or(facts.memory_capacity),
                "requests.cpu" => r.cpu_request.unwrap_or(0),
                _ => r.memory_request.unwrap_or(0),
            };
            Ok(amount.div_ceil((*divisor).max(1)).to_string())
        }
    }
}

fn field_value(path: &str, facts: &PodFacts) -> String {
    let keyed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
            .map(str::to_string)
    };
    if let Some(key) = keyed("metadata.labels") {
        return facts.labels.get(&key).cloned().unwrap_or_default();
    }
    if let Some(key) = keyed("metadata.annotations") {
        return facts.annotations.get(&key).cloned().unwrap_or_default();
    }
    match path {
        "metadata.name" => facts.name.clone(),
        "metadata.namespace" => facts.namespace.clone(),
        "metadata.uid" => facts.uid.clone(),
        "metadata.labels" => key_values(&facts.labels),
        "metadata.annotations" => key_values(&facts.annotations),
        "spec.nodeName" => facts.node_name.clone(),
        "spec.serviceAccountName" => facts.service_account_name.clone(),
        "status.podIP" => facts.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => facts.pod_ips.join(","),
        "status.hostIP" => facts.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => facts.host_ips.join(","),
        _ => String::new(),
    }
}

/// Labels or annotations as the kubelet writes them in a file: `key="value"`
/// lines, sorted, the value quoted as Go's `%q` does.
fn key_values(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| {
            format!(
                "{k}={}\n",
                serde_json::to_string(v).expect("a string serialises")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Format;

    fn pod() -> PodSpec {
        crate::spec::parse(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web, tier: front}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {memory: 100Mi}}\n",
            Format::Yaml,
        )
        .unwrap()
        .remove(0)
        .pod
    }

    fn facts() -> PodFacts {
        PodFacts {
            name: "web".into(),
            namespace: "default".into(),
            uid: "u-1".into(),
            labels: [
                ("app".into(), "web".into()),
                ("tier".into(), "front".into()),
            ]
            .into(),
            node_name: "host1".into(),
            pod_ips: vec!["10.86.0.5".into()],
            host_ips: vec!["192.168.1.2".into()],
            cpu_capacity_millis: 2000,
            memory_capacity: 1 << 30,
            ..PodFacts::default()
        }
    }

    #[test]
    fn fields_and_resources_as_the_kubelet_gives_them() {
        let (spec, facts) = (pod(), facts());
        let field = |p: &str| value(&DownwardField::Field(p.into()), &spec, &facts).unwrap();
        assert_eq!(field("metadata.uid"), "u-1");
        assert_eq!(field("metadata.labels['tier']"), "front");
        assert_eq!(field("metadata.labels['none']"), "");
        assert_eq!(field("metadata.labels"), "app=\"web\"\ntier=\"front\"\n");
        assert_eq!(field("status.podIP"), "10.86.0.5");
        assert_eq!(field("status.hostIPs"), "192.168.1.2");
        assert_eq!(field("spec.nodeName"), "host1");
        let resource = |r: &str, divisor| {
            let f = DownwardField::Resource {
                container: "c".into(),
                resource: r.into(),
                divisor,
            };
            value(&f, &spec, &facts)
        };
        // 250m with the default divisor 1 (1000m) rounds up to 1.
        assert_eq!(resource("requests.cpu", 1000).unwrap(), "1");
        assert_eq!(resource("requests.cpu", 1).unwrap(), "250");
        assert_eq!(resource("limits.memory", 1 << 20).unwrap(), "100");
        assert_eq!(
            resource("requests.memory", 1).unwrap(),
            (64 << 20).to_string()
        );
        // No CPU limit: the node's capacity.
        assert_eq!(resource("limits.cpu", 1000).unwrap(), "2");
        let missing = DownwardField::Resource {
            container: "nope".into(),
            resource: "limits.cpu".into(),
            divisor: 1,
        };
        assert!(value(&missing, &spec, &facts).is_err());
    }
}
