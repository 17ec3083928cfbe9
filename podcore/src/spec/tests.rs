//! Spec parsing and validation against Kubernetes' rules.

use super::*;

fn one(text: &str) -> Parsed {
    let mut pods = parse(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pods.len(), 1);
    pods.remove(0)
}

fn errors_of(text: &str) -> Vec<String> {
    errors(text)
}

fn errors(text: &str) -> Vec<String> {
    match parse(text, Format::Yaml) {
        Err(SpecError::Invalid(errors)) => errors.iter().map(|e| e.to_string()).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: two-containers-pod
spec:
  template:
    spec:
      containers:
        - name: hello
          image: busybox
          command: ['sh', '-c', 'echo "first container" && sleep 3600']
        - name: hello2
          image: busybox
          command: ['sh', '-c', 'echo "second container" && sleep 3600']
      restartPolicy: OnFailure
"#;

#[test]
fn a_job_runs_its_template_as_one_pod() {
    let parsed = one(JOB);
    let pod = parsed.pod;
    assert_eq!(pod.name, "two-containers-pod");
    assert_eq!(pod.namespace, "default");
    assert_eq!(pod.source_kind, "Job");
    assert_eq!(pod.restart_policy, RestartPolicy::OnFailure);
    assert_eq!(pod.hostname, "two-containers-pod");
    assert_eq!(pod.containers.len(), 2);
    assert_eq!(pod.containers[1].command.as_ref().unwrap()[0], "sh");
    assert_eq!(pod.termination_grace_period_seconds, 30);
    assert_eq!(pod.qos_class(), QosClass::BestEffort);
    assert!(parsed.notes[0].contains("a Job"), "{:?}", parsed.notes);
}

#[test]
fn multi_document_yaml_reads_each_pod() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: busybox}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c, image: busybox}]}\n";
    let pods = parse(text, Format::Yaml).unwrap();
    assert_eq!(
        pods.iter().map(|p| p.pod.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn unknown_fields_are_warnings_with_their_path() {
    let parsed = one(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    colour: blue\n",
    );
    assert_eq!(
        parsed.warnings,
        ["spec.containers[0].colour: unknown field, ignored"]
    );
}

#[test]
fn errors_name_the_field_path() {
    let text = r#"
apiVersion: v1
kind: Pod
metadata: {name: Bad_Name}
spec:
  restartPolicy: Sometimes
  containers:
  - name: a
    image: busybox
    volumeMounts: [{name: nowhere, mountPath: /data}]
  - name: a
  - name: c
    image: busybox
    resources: {limits: {memory: "-64Mi"}}
"#;
    let errors = errors(text);
    let has = |needle: &str| {
        assert!(
            errors.iter().any(|e| e.starts_with(needle)),
            "no {needle:?} in {errors:#?}"
        )
    };
    has("metadata.name: \"Bad_Name\"");
    has("spec.restartPolicy: \"Sometimes\"");
    has("spec.containers[0].volumeMounts[0].name: \"nowhere\" is not a volume");
    has("spec.containers[1].name: \"a\" is used by another container");
    has("spec.containers[1].image: required");
    has("spec.containers[2].resources.limits.memory: \"-64Mi\" is negative");
}

#[test]
fn unsupported_fields_are_errors_not_ignored() {
    let errors = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  os: {name: linux}\n  containers:\n  - name: c\n    image: busybox\n    livenessProbe: {exec: {command: [echo]}}\n",
    );
    assert!(
        errors.contains(&"spec.os: not supported by podctl yet: remove it".to_string()),
        "{errors:?}"
    );
    let probe = errors_of(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    livenessProbe: {exec: {command: [x]}, terminationGracePeriodSeconds: 5}\n",
    );
    assert!(
        probe.contains(
            &"spec.containers[0].livenessProbe.terminationGracePeriodSeconds: not supported by podctl yet: remove it"
                .to_string()
        ),
        "{probe:?}"
    );
}

#[test]
fn wrong_types_name_the_path() {
    let errors = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: echo\n",
    );
    assert!(
        errors[0].starts_with("spec.containers[0].command: invalid type"),
        "{errors:?}"
    );
}

#[test]
fn a_job_must_not_restart_always() {
    let errors = errors(&JOB.replace("OnFailure", "Always"));
    assert!(
        errors[0].starts_with(
            "spec.template.spec.restartPolicy: a Job's pod must use OnFailure or Never"
        ),
        "{errors:?}"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    match parse(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n",
        Format::Yaml,
    ) {
        Err(SpecError::Syntax { line, .. }) => assert!(line >= 4, "line {line}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn podctl_toml_is_the_same_pod() {
    let text = r#"
name = "two-containers"
restart_policy = "OnFailure"
share_process_namespace = false

[[containers]]
name = "hello"
image = "busybox"
command = ["sh", "-c", "echo first container && sleep 3600"]

[[containers]]
name = "hello2"
image = "busybox"
command = ["sh", "-c", "echo second container && sleep 3600"]
"#;
    let pods = parse(text, Format::Toml).unwrap();
    let pod = &pods[0].pod;
    assert_eq!(pod.name, "two-containers");
    assert_eq!(pod.restart_policy, RestartPolicy::OnFailure);
    assert_eq!(pod.containers.len(), 2);
    assert_eq!(pod.source_kind, "Pod");
}

#[test]
fn qos_classes_follow_the_kubelet() {
    let pod = |resources: &str| {
        one(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: a}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {resources}\n")).pod
    };
    assert_eq!(
        pod("{limits: {cpu: 500m, memory: 64Mi}}").qos_class(),
        QosClass::Guaranteed
    );
    assert_eq!(
        pod("{requests: {cpu: 100m}}").qos_class(),
        QosClass::Burstable
    );
    assert_eq!(pod("{}").qos_class(), QosClass::BestEffort);
    let guaranteed = pod("{limits: {cpu: 500m, memory: 64Mi}}");
    assert_eq!(guaranteed.containers[0].resources.cpu_request, Some(500));
    assert_eq!(
        guaranteed.containers[0].resources.memory_request,
        Some(64 << 20)
    );
}

#[test]
fn sidecars_are_init_containers_that_restart_always() {
    let pod = one("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  initContainers:\n  - {name: side, image: busybox, restartPolicy: Always}\n  containers:\n  - {name: c, image: busybox}\n").pod;
    assert!(pod.init_containers[0].is_sidecar());
    let errors = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: c, image: busybox, restartPolicy: Always}\n",
    );
    assert!(
        errors[0].starts_with("spec.containers[0].restartPolicy"),
        "{errors:?}"
    );
}

#[test]
fn probes_get_kubernetes_defaults_and_named_ports() {
    let pod = one("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    ports: [{name: web, containerPort: 8080}]\n    readinessProbe: {httpGet: {port: web, path: /ready}}\n    livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}\n    startupProbe: {exec: {command: [cat, /ok]}, failureThreshold: 30}\n").pod;
    let c = &pod.containers[0];
    let readiness = c.readiness_probe.as_ref().unwrap();
    assert_eq!(
        readiness.action,
        ProbeAction::HttpGet {
            port: 8080,
            path: "/ready".into()
        }
    );
    assert_eq!(
        (
            readiness.initial_delay_seconds,
            readiness.period_seconds,
            readiness.timeout_seconds
        ),
        (0, 10, 1)
    );
    assert_eq!(
        (readiness.success_threshold, readiness.failure_threshold),
        (1, 3)
    );
    assert_eq!(c.liveness_probe.as_ref().unwrap().period_seconds, 2);
    assert_eq!(c.startup_probe.as_ref().unwrap().failure_threshold, 30);
    let errors = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    livenessProbe: {tcpSocket: {port: nope}}\n",
    );
    assert!(
        errors[0].starts_with("spec.containers[0].livenessProbe.tcpSocket.port"),
        "{errors:?}"
    );
}

#[test]
fn file_modes_are_octal_as_kubernetes_reads_yaml() {
    let pod = one(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  volumes:\n  - name: s\n    secret: {secretName: s, defaultMode: 0400, items: [{key: k, path: p, mode: 0o640}]}\n  containers: [{name: c, image: busybox}]\n",
    )
    .pod;
    match &pod.volumes[0].source {
        VolumeSource::Files {
            default_mode,
            sources,
            ..
        } => {
            assert_eq!(*default_mode, 0o400);
            match &sources[0] {
                Projection::Object { items, .. } => assert_eq!(items[0].mode, Some(0o640)),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sysctls_of_a_namespace_the_pod_takes_from_the_host_are_refused() {
    let pod = |host: &str, sysctl: &str| {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  {host}: true\n  securityContext:\n    sysctls: [{{name: {sysctl}, value: '1'}}]\n  containers: [{{name: c, image: busybox}}]\n"
        )
    };
    let errors = errors(&pod("hostNetwork", "net.ipv4.tcp_syncookies"));
    assert!(
        errors[0].starts_with("spec.securityContext.sysctls[0].name: \"net.ipv4.tcp_syncookies\" would change the host's network"),
        "{errors:?}"
    );
    let errors = errors_of(&pod("hostIPC", "kernel.shm_rmid_forced"));
    assert!(
        errors[0].starts_with("spec.securityContext.sysctls[0].name: \"kernel.shm_rmid_forced\" would change the host's IPC namespace"),
        "{errors:?}"
    );
    // The other namespace's sysctl is fine: it lives in the pod's own.
    let parsed = one(&pod("hostIPC", "net.ipv4.tcp_syncookies"));
    assert_eq!(
        parsed.pod.sysctls,
        [("net.ipv4.tcp_syncookies".to_string(), "1".to_string())]
    );
}
