//! The pod as podcore runs it: defaulted, validated, independent of the
//! manifest format it came from. Stored as the pod record's `spec`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The pod's `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// A validated pod.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodSpec {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `spec.serviceAccountName` (no account exists on one host; the
    /// Downward API still shows the name).
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// The manifest's kind (`Pod`, `Job`, `Deployment`, ...).
    pub source_kind: String,
    pub restart_policy: RestartPolicy,
    pub share_process_namespace: bool,
    /// The pod's hostname: `spec.hostname`, else the name cut to 63 characters.
    pub hostname: String,
    pub host_aliases: Vec<HostAlias>,
    /// `subdomain`: the pod's FQDN is `<hostname>.<subdomain>.<namespace>.svc.cluster.local`.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// `setHostnameAsFQDN`: the kernel's hostname is the FQDN.
    #[serde(default)]
    pub hostname_as_fqdn: bool,
    /// `dnsPolicy` and `dnsConfig`: the pod's resolv.conf.
    #[serde(default)]
    pub dns: Dns,
    /// `securityContext.sysctls`: namespaced, safe ones, set in the pod's namespaces.
    #[serde(default)]
    pub sysctls: Vec<(String, String)>,
    /// `securityContext.fsGroup`: the group that owns the pod's volumes.
    #[serde(default)]
    pub fs_group: Option<u32>,
    pub host_network: bool,
    pub host_ipc: bool,
    pub host_pid: bool,
    pub termination_grace_period_seconds: u64,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    /// The manifest's pod spec as given, for `get -o yaml` and `describe`.
    pub original: serde_json::Value,
}

/// `dnsPolicy`: where the pod's resolv.conf starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::EnumString)]
pub enum DnsPolicy {
    /// The cluster's DNS; one host has none, so the host's resolv.conf
    /// (what the kubelet does without a cluster DNS).
    #[default]
    ClusterFirst,
    /// As ClusterFirst, for a hostNetwork pod.
    ClusterFirstWithHostNet,
    /// The host's resolv.conf.
    Default,
    /// Only `dnsConfig`.
    None,
}

/// The pod's DNS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    pub policy: DnsPolicy,
    /// `dnsConfig.nameservers`, after the policy's.
    pub nameservers: Vec<String>,
    /// `dnsConfig.searches`, after the policy's.
    pub searches: Vec<String>,
    /// `dnsConfig.options`: a name, and a value (`ndots:2`).
    pub options: Vec<(String, Option<String>)>,
}

/// One `hostAliases` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

/// A container (init, sidecar or app).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub image_pull_policy: String,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    /// `env`, in order: later entries may use earlier ones as `$(NAME)`.
    pub env: Vec<EnvVar>,
    /// `envFrom`: every key of a ConfigMap or Secret, before `env`.
    #[serde(default)]
    pub env_from: Vec<EnvFrom>,
    pub working_dir: Option<String>,
    pub volume_mounts: Vec<VolumeMount>,
    pub resources: Resources,
    pub security: SecurityContext,
    /// `Some(Always)` on an init container makes it a sidecar.
    pub restart_policy: Option<RestartPolicy>,
    /// `lifecycle.preStop.exec.command`.
    pub pre_stop: Option<Vec<String>>,
    /// `lifecycle.postStart`: run as the container starts; it is not
    /// Running until this returns, and a failure kills it.
    #[serde(default)]
    pub post_start: Option<ProbeAction>,
    #[serde(default)]
    pub liveness_probe: Option<Probe>,
    #[serde(default)]
    pub readiness_probe: Option<Probe>,
    #[serde(default)]
    pub startup_probe: Option<Probe>,
    /// `ports`: what the container listens on; a `hostPort` is published on the host.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    /// `stdin`: its standard input stays open for `podctl attach -i`
    /// (else it reads /dev/null).
    #[serde(default)]
    pub stdin: bool,
    /// `stdinOnce`: the first attach's end closes its standard input.
    #[serde(default)]
    pub stdin_once: bool,
    /// `tty`: its standard streams are a terminal.
    #[serde(default)]
    pub tty: bool,
    /// `terminationMessagePath`: a file the container may write why it
    /// ended to (`/dev/termination-log`).
    #[serde(default = "default_termination_message_path")]
    pub termination_message_path: String,
    /// `terminationMessagePolicy`.
    #[serde(default)]
    pub termination_message_policy: TerminationMessagePolicy,
}

fn default_termination_message_path() -> String {
    super::defaults::TERMINATION_MESSAGE_PATH.into()
}

/// Where a terminated container's message comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
pub enum TerminationMessagePolicy {
    /// The termination message file only.
    #[default]
    File,
    /// The file, else (it is empty and the container failed) the end of its log.
    FallbackToLogsOnError,
}

/// One `env` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvValue {
    /// `value`, `$(NAME)` references still in it.
    Literal(String),
    /// `valueFrom.fieldRef` or `.resourceFieldRef`.
    Downward(DownwardField),
    /// `valueFrom.configMapKeyRef` or `.secretKeyRef`.
    Key(KeyRef),
}

/// A key of a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRef {
    pub object: ObjectRef,
    pub key: String,
}

/// A ConfigMap or Secret by name; an optional one may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: crate::objects::Kind,
    pub name: String,
    pub optional: bool,
}

/// One `envFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvFrom {
    pub prefix: String,
    pub object: ObjectRef,
}

/// A fact of the pod the Downward API gives (env `valueFrom`, `downwardAPI` volumes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownwardField {
    /// `fieldRef.fieldPath`, checked: `metadata.name`, `metadata.labels['k']`, `status.podIP`, ...
    Field(String),
    /// `resourceFieldRef`: a container's `limits.cpu`, `requests.memory`, ...
    /// divided by `divisor` (cpu in milli-CPU, memory in bytes), rounded up.
    Resource {
        container: String,
        resource: String,
        divisor: u64,
    },
}

/// One `ports` entry of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: u16,
    pub host_port: Option<u16>,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    pub host_ip: Option<String>,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeAction {
    /// Run a command in the container: exit 0 passes.
    Exec(Vec<String>),
    /// Connect to a TCP port on the pod's loopback.
    TcpSocket { port: u16 },
    /// GET a path on the pod's loopback: 200-399 passes.
    HttpGet { port: u16, path: String },
    /// The gRPC health checking protocol's `Check` of `service` on the
    /// pod's loopback: SERVING passes.
    Grpc { port: u16, service: String },
}

/// A liveness, readiness or startup probe with Kubernetes' defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub action: ProbeAction,
    pub initial_delay_seconds: u64,
    pub period_seconds: u64,
    pub timeout_seconds: u64,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Container {
    /// An init container that keeps running beside the app containers.
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy == Some(RestartPolicy::Always)
    }
}

/// A `volumeMounts` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
    pub sub_path: Option<String>,
}

/// Requests and limits: CPU in milli-CPU, memory in bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request: Option<u64>,
    pub cpu_limit: Option<u64>,
    pub memory_request: Option<u64>,
    pub memory_limit: Option<u64>,
}

/// The effective security settings (pod-level merged under container-level).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SecurityContext {
    pub privileged: bool,
    pub allow_privilege_escalation: Option<bool>,
    pub read_only_root_filesystem: bool,
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: bool,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// The pod's `supplementalGroups` and `fsGroup`: the process's extra groups.
    #[serde(default)]
    pub supplemental_groups: Vec<u32>,
    /// `seccompProfile` (the container's, else the pod's).
    #[serde(default)]
    pub seccomp: Seccomp,
}

/// A container's seccomp profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// podctl's default filter (Docker's allow list).
    #[default]
    RuntimeDefault,
    /// No filter.
    Unconfined,
    /// A profile file, relative to `<root>/seccomp/`.
    Localhost(String),
}

/// A pod volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

/// Where a volume's content lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VolumeSource {
    /// A folder in the pod's folder, or a tmpfs when `memory`.
    EmptyDir {
        memory: bool,
        size_limit: Option<u64>,
    },
    /// A host path (refused unless allowed), checked by its `type` when a
    /// container mounting it is made.
    HostPath {
        path: String,
        #[serde(default)]
        kind: HostPathType,
    },
    /// Files made from ConfigMaps, Secrets and the Downward API (`configMap`,
    /// `secret`, `downwardAPI` and `projected` volumes), read-only in the
    /// containers and swapped atomically when the objects change.
    Files {
        kind: FilesKind,
        sources: Vec<Projection>,
        /// `defaultMode` (0644).
        default_mode: u32,
    },
}

/// A hostPath volume's `type`: what must be at the path, or be made there.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
pub enum HostPathType {
    /// No check: a missing folder is made (as the runtime's bind mount does).
    #[default]
    #[strum(serialize = "")]
    Unset,
    DirectoryOrCreate,
    Directory,
    FileOrCreate,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

/// Which volume type made a [`VolumeSource::Files`] volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
pub enum FilesKind {
    ConfigMap,
    Secret,
    #[strum(serialize = "DownwardAPI")]
    DownwardApi,
    Projected,
}

/// One source of a files volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    /// A ConfigMap's or Secret's keys: all, or `items` (key to path, mode).
    Object {
        object: ObjectRef,
        items: Vec<KeyToPath>,
    },
    /// Downward API files.
    Downward(Vec<DownwardFile>),
}

/// An `items` entry: a key's file path (relative) and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
    pub mode: Option<u32>,
}

/// A `downwardAPI` item: a file holding a fact of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownwardFile {
    pub path: String,
    pub field: DownwardField,
    pub mode: Option<u32>,
}

/// The pod's QoS class, by the kubelet's rule.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guaranteed => "Guaranteed",
            Self::Burstable => "Burstable",
            Self::BestEffort => "BestEffort",
        }
    }
}

impl PodSpec {
    /// Guaranteed when every container has CPU and memory limits equal to its
    /// requests; BestEffort when no container sets anything; else Burstable.
    pub fn qos_class(&self) -> QosClass {
        let all: Vec<&Container> = self
            .init_containers
            .iter()
            .chain(&self.containers)
            .collect();
        if all.iter().all(|c| c.resources == Resources::default()) {
            return QosClass::BestEffort;
        }
        let guaranteed = all.iter().all(|c| {
            let r = &c.resources;
            r.cpu_limit.is_some()
                && r.memory_limit.is_some()
                && r.cpu_request == r.cpu_limit
                && r.memory_request == r.memory_limit
        });
        if guaranteed {
            QosClass::Guaranteed
        } else {
            QosClass::Burstable
        }
    }

    /// The pod's fully qualified name, with a `subdomain`:
    /// `<hostname>.<subdomain>.<namespace>.svc.cluster.local`.
    pub fn fqdn(&self) -> Option<String> {
        let sub = self.subdomain.as_ref()?;
        Some(format!(
            "{}.{sub}.{}.svc.{}",
            self.hostname,
            self.namespace,
            super::defaults::CLUSTER_DOMAIN
        ))
    }

    /// The kernel hostname the pod's containers see: the FQDN with
    /// `setHostnameAsFQDN`, else the hostname.
    pub fn uts_hostname(&self) -> String {
        match (self.hostname_as_fqdn, self.fqdn()) {
            (true, Some(fqdn)) => fqdn,
            _ => self.hostname.clone(),
        }
    }

    /// Every container: init containers first, in order, then app containers.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }
}
