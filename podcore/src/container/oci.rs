//! OCI runtime specs for the pause container and app containers, built
//! from the pod's record and the host's facts without touching the host
//! (pure): the same inputs give the same spec.
//!
//! App containers join the pause container's net, ipc and uts namespaces
//! (and pid when shared) by `/proc/<pause pid>/ns/*`; each has its own mount
//! namespace. Cgroup and user namespaces stay the host's.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use super::host::Host;
use super::process::{DEFAULT_PATH, process_args, process_env};
use super::security::{capabilities, mask_folders, permitted_oom_score_adj, read_only_cgroups};
use super::{ContainerError, spec_error};
use crate::cgroups;
use crate::namespaces::Joined;
use crate::pod::{PodPaths, PodRecord};
use crate::spec::{Container, Seccomp, VolumeSource};

fn bind(destination: &str, source: &Path, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if read_only {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

fn resources(limits: &cgroups::Limits) -> Value {
    let mut cpu = json!({"shares": limits.cpu_shares});
    if let Some(quota) = limits.cpu_quota {
        cpu["quota"] = json!(quota);
        cpu["period"] = json!(cgroups::CFS_PERIOD_US);
    }
    let mut value = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "cpu": cpu,
        "pids": {"limit": limits.pids_limit},
    });
    if let Some(memory) = limits.memory_limit {
        value["memory"] = json!({"limit": memory, "swap": memory});
    }
    value
}

/// Start from oci-spec's defaults (mounts, masked and read-only paths) as JSON.
fn base() -> Value {
    serde_json::to_value(Spec::default()).expect("the default spec serializes")
}

fn finish(name: &str, value: Value) -> Result<Spec, ContainerError> {
    serde_json::from_value(value)
        .map_err(|e| spec_error(name, format!("invalid runtime spec: {e}")))
}

/// The namespaces a container joins or makes: the pod's pinned net, ipc
/// and uts (none where the pod uses the host's), a PID namespace (pause's
/// when `joined.pid` names it, else a new one, unless `hostPID`) and a
/// mount namespace of its own.
fn namespaces(pod: &crate::spec::PodSpec, joined: &Joined) -> Value {
    let mut namespaces = vec![json!({"type": "mount"})];
    for (kind, pin) in [
        ("network", &joined.net),
        ("ipc", &joined.ipc),
        ("uts", &joined.uts),
    ] {
        if let Some(pin) = pin {
            namespaces.push(json!({"type": kind, "path": pin}));
        }
    }
    match &joined.pid {
        Some(pause) => namespaces.push(json!({"type": "pid", "path": pause})),
        None if !pod.host_pid => namespaces.push(json!({"type": "pid"})),
        None => {}
    }
    json!(namespaces)
}

/// The pause container's spec: it joins the pod's pinned namespaces (whose
/// hostname and sysctls are set already, see [`crate::namespaces`]) and
/// makes the pod's PID namespace (`joined.pid` is `None` for pause);
/// read-only root, no mounts it does not need, shares 2,
/// `oom_score_adj` -998, a seccomp filter of its few calls
/// ([`crate::seccomp::pause_profile`]).
pub fn pause_spec(
    record: &PodRecord,
    joined: &Joined,
    rootfs: &Path,
    host: &Host,
) -> Result<Spec, ContainerError> {
    let pod = &record.spec;
    let mut spec = base();
    spec.as_object_mut()
        .expect("spec is an object")
        .remove("hostname");
    spec["linux"]["namespaces"] = namespaces(pod, joined);
    // pause reads no file: it gets /dev (for the runtime's device nodes)
    // and nothing else, so its create does not wait on mounts it never uses.
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.retain(|m| m["destination"] == "/dev");
    }
    for paths in ["maskedPaths", "readonlyPaths"] {
        spec["linux"][paths] = json!([]);
    }
    spec["linux"]["cgroupsPath"] = json!(format!("/{}", record.sandbox_cgroup()));
    let limits = cgroups::Limits {
        cpu_shares: cgroups::MIN_SHARES,
        cpu_quota: None,
        memory_limit: None,
        pids_limit: 16,
    };
    spec["linux"]["resources"] = resources(&limits);
    spec["linux"]["seccomp"] = crate::seccomp::pause_profile();
    spec["root"] = json!({"path": rootfs, "readonly": true});
    spec["process"]["args"] = json!(["/pause"]);
    // HOME set: the runtime never asks glibc's NSS (see [`process_env`]).
    spec["process"]["env"] = json!([DEFAULT_PATH, "HOME=/"]);
    spec["process"]["cwd"] = json!("/");
    spec["process"]["user"] = json!({"uid": 65535, "gid": 65535});
    spec["process"]["noNewPrivileges"] = json!(true);
    if let Some(score) = permitted_oom_score_adj(-998, host) {
        spec["process"]["oomScoreAdj"] = json!(score);
    }
    spec["process"]["capabilities"] = json!({});
    spec["process"]["terminal"] = json!(false);
    finish("pause", spec)
}

/// Where an app container runs: the pod's sandbox and the container's own
/// root filesystem and user, found before its spec is built.
pub struct Placement<'a> {
    pub paths: &'a PodPaths,
    /// The pod's namespaces it joins.
    pub joined: &'a Joined,
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    /// uid and gid (see [`super::process_user`]).
    pub user: (u32, u32),
    /// The user's home folder, `HOME` unless the env sets one.
    pub home: &'a str,
    /// The container's resolved `env` (see [`crate::env::resolve`]).
    pub env: &'a [(String, String)],
    /// A `Localhost` seccomp profile, read (see [`super::localhost_seccomp`]).
    pub localhost_seccomp: Option<&'a Value>,
}

/// An app (or init, or sidecar) container's spec, joining pause's namespaces.
pub fn app_spec(
    record: &PodRecord,
    container: &Container,
    place: &Placement,
    host: &Host,
) -> Result<Spec, ContainerError> {
    let Placement {
        paths,
        joined,
        rootfs,
        user: (uid, gid),
        home,
        env,
        localhost_seccomp,
    } = *place;
    let pod = &record.spec;
    let image = record
        .images
        .get(&container.name)
        .ok_or_else(|| spec_error(&container.name, "no resolved image"))?;
    let name = container.name.as_str();
    if container.security.privileged && !record.options.allow_privileged {
        return Err(spec_error(
            name,
            "privileged containers are refused: run with --allow-privileged to allow them (they get the host's devices and every capability)",
        ));
    }
    let mut spec = base();
    spec["linux"]["namespaces"] = namespaces(pod, joined);
    spec.as_object_mut()
        .expect("spec is an object")
        .remove("hostname");

    let caps = capabilities(container);
    let args = process_args(container, image, env);
    if args.is_empty() {
        return Err(spec_error(
            name,
            "nothing to run: the image has no Entrypoint or Cmd and the container no command",
        ));
    }
    spec["process"]["args"] = json!(args);
    spec["process"]["env"] = json!(process_env(image, &pod.hostname, env, home));
    let cwd = container.working_dir.clone().unwrap_or_else(|| {
        if image.working_dir.is_empty() {
            "/".into()
        } else {
            image.working_dir.clone()
        }
    });
    spec["process"]["cwd"] = json!(cwd);
    spec["process"]["user"] = json!({"uid": uid, "gid": gid});
    if !container.security.supplemental_groups.is_empty() {
        spec["process"]["user"]["additionalGids"] = json!(container.security.supplemental_groups);
    }
    spec["process"]["terminal"] = json!(container.tty);
    spec["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    // Leave the key out rather than `false`: libcontainer 0.7 loads seccomp only
    // after dropping capabilities whenever the key is present, which fails
    // without no_new_privs.
    let process = spec["process"]
        .as_object_mut()
        .expect("process is an object");
    if container.security.allow_privilege_escalation == Some(false) {
        process.insert("noNewPrivileges".into(), json!(true));
    } else {
        process.remove("noNewPrivileges");
    }
    // A score below 0 needs CAP_SYS_RESOURCE: without it the score is left as it is.
    let score = cgroups::oom_score_adj(
        record.qos(),
        container.resources.memory_request,
        host.memory_capacity,
    );
    if let Some(score) = permitted_oom_score_adj(score, host) {
        spec["process"]["oomScoreAdj"] = json!(score);
    }
    spec["root"] =
        json!({"path": rootfs, "readonly": container.security.read_only_root_filesystem});
    let cgroup = format!("/{}", record.cgroup(name));
    spec["linux"]["cgroupsPath"] = json!(cgroup);
    spec["linux"]["resources"] = resources(&cgroups::limits(&container.resources));
    if container.security.privileged {
        spec["linux"]["maskedPaths"] = json!([]);
        spec["linux"]["readonlyPaths"] = json!([]);
    } else {
        match (&container.security.seccomp, localhost_seccomp) {
            (Seccomp::Unconfined, _) => {}
            (Seccomp::Localhost(_), Some(profile)) => spec["linux"]["seccomp"] = profile.clone(),
            (Seccomp::Localhost(path), None) => {
                return Err(spec_error(
                    name,
                    format!("seccomp profile {path} was not loaded"),
                ));
            }
            (Seccomp::RuntimeDefault, _) => {
                spec["linux"]["seccomp"] = crate::seccomp::profile(&caps)
            }
        }
    }

    // Mounts: the defaults without their private /dev/shm, then the pod's files and volumes.
    let mut mounts: Vec<Value> = spec["mounts"].as_array().cloned().unwrap_or_default();
    mounts.retain(|m| m["destination"] != "/dev/shm");
    if !container.security.privileged {
        let mount_points = paths.mount_points(name);
        read_only_cgroups(&mut spec, &mut mounts, &cgroup, host, &mount_points);
        mask_folders(&mut spec, &mut mounts, host, &mount_points.join("empty"));
    }
    let etc = paths.etc();
    mounts.push(bind("/etc/hosts", &etc.join("hosts"), false));
    mounts.push(bind("/etc/hostname", &etc.join("hostname"), false));
    mounts.push(bind("/etc/resolv.conf", &etc.join("resolv.conf"), false));
    let shm = if pod.host_ipc {
        PathBuf::from("/dev/shm")
    } else {
        paths.shm()
    };
    mounts.push(bind("/dev/shm", &shm, false));
    // Made empty by the create step before each run; read when the run ends.
    mounts.push(bind(
        &container.termination_message_path,
        &paths.termination_log(name),
        false,
    ));
    for mount in &container.volume_mounts {
        let volume = pod
            .volumes
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| spec_error(name, format!("volume {} is not declared", mount.name)))?;
        let mut source = match &volume.source {
            VolumeSource::EmptyDir { .. } | VolumeSource::Files { .. } => {
                paths.volume(&volume.name)
            }
            VolumeSource::HostPath { path, .. } => {
                if !record.options.allow_host_paths {
                    return Err(spec_error(
                        name,
                        format!(
                            "hostPath volume {} is refused: it hands the host to the pod; run with --allow-host-paths to allow it",
                            volume.name
                        ),
                    ));
                }
                PathBuf::from(path)
            }
        };
        // The folder is made by the sandbox (`sandbox::sub_paths`).
        if let Some(sub) = &mount.sub_path {
            source = source.join(sub);
        }
        // Files volumes are read-only, as the kubelet mounts them.
        let files = matches!(volume.source, VolumeSource::Files { .. });
        mounts.push(bind(&mount.mount_path, &source, mount.read_only || files));
    }
    spec["mounts"] = json!(mounts);
    finish(name, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fixtures;
    use crate::pod::{ResolvedImage, RunOptions};

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: app
    image: busybox
    command: [sleep, '60']
    resources: {requests: {memory: 256Mi}, limits: {memory: 512Mi}}
    volumeMounts: [{name: data, mountPath: /data, subPath: not/made/yet}]
  - name: fixed
    image: busybox
    resources: {requests: {memory: 64Mi, cpu: 100m}, limits: {memory: 64Mi, cpu: 100m}}
";

    fn record() -> PodRecord {
        let spec = crate::spec::parse(POD, crate::spec::Format::Yaml)
            .unwrap()
            .remove(0)
            .pod;
        let images = spec
            .all_containers()
            .map(|c| (c.name.clone(), fixtures::image()))
            .collect();
        PodRecord {
            uid: "u1".into(),
            created: chrono::Utc::now(),
            spec,
            images,
            pause: ResolvedImage {
                entrypoint: vec!["/pause".into()],
                ..fixtures::image()
            },
            options: RunOptions::default(),
            qos_class: None,
        }
    }

    fn host(cap_sys_resource: bool) -> Host {
        Host {
            memory_capacity: 1 << 30,
            cap_sys_resource,
            mounts: "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n".into(),
            comount_links: Vec::new(),
            cgroup_namespaces: true,
            masked_folders: vec!["/proc/acpi".into(), "/sys/firmware".into()],
        }
    }

    fn joined() -> Joined {
        Joined {
            net: Some("/root/ns/u1/net".into()),
            ipc: Some("/root/ns/u1/ipc".into()),
            uts: Some("/root/ns/u1/uts".into()),
            pid: None,
        }
    }

    fn app(record: &PodRecord, name: &str, host: &Host) -> Value {
        serde_json::to_value(app_oci(record, name, host)).unwrap()
    }

    fn app_oci(record: &PodRecord, name: &str, host: &Host) -> Spec {
        let paths = PodPaths::new(Path::new("/nonexistent/root"), &record.uid);
        let container = record
            .spec
            .containers
            .iter()
            .find(|c| c.name == name)
            .unwrap();
        let place = Placement {
            paths: &paths,
            joined: &joined(),
            rootfs: Path::new("/nonexistent/rootfs"),
            user: (1000, 3000),
            home: "/home/app",
            env: &[],
            localhost_seccomp: None,
        };
        app_spec(record, container, &place, host).unwrap()
    }

    #[test]
    fn an_app_joins_the_pinned_namespaces_and_runs_as_placed() {
        let record = record();
        let spec = app(&record, "app", &host(false));
        let joined: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["path"].as_str())
            .collect();
        assert_eq!(
            joined,
            ["/root/ns/u1/net", "/root/ns/u1/ipc", "/root/ns/u1/uts"]
        );
        assert_eq!(spec["process"]["user"]["uid"], 1000);
        assert_eq!(spec["process"]["user"]["gid"], 3000);
        assert_eq!(spec["process"]["args"], json!(["sleep", "60"]));
        assert_eq!(spec["linux"]["cgroupsPath"], "/podctl/burstable/podu1/app");
        // Burstable: 1000 - 1000 * 256Mi / 1Gi, from the host's facts.
        assert_eq!(spec["process"]["oomScoreAdj"], 750);
        // The subPath's folder is the sandbox's to make: building reads and writes nothing.
        let data = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/data")
            .unwrap();
        let source = data["source"].as_str().unwrap();
        assert!(source.ends_with("volumes/data/not/made/yet"), "{source}");
        assert!(!Path::new(source).exists());
    }

    #[test]
    fn masks_and_the_v1_cgroup_folder_are_read_only_binds_of_the_run_s_mount_points() {
        let record = record();
        let mut v1 = host(false);
        v1.mounts = "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n\
                     cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
            .into();
        v1.comount_links = vec![("cpu".into(), "cpu,cpuacct".into())];
        let spec = app(&record, "app", &v1);
        let mounts = spec["mounts"].as_array().unwrap();
        let at = |dest: &str| -> Vec<&Value> {
            mounts.iter().filter(|m| m["destination"] == dest).collect()
        };
        let points = "/nonexistent/root/run/bundles/u1-app/mount-points";
        let read_only = json!(["bind", "ro", "nosuid", "noexec", "nodev"]);
        assert_eq!(
            at("/sys/fs/cgroup"),
            [&json!({"destination": "/sys/fs/cgroup", "type": "bind",
                     "source": format!("{points}/cgroup"), "options": read_only})]
        );
        for folder in ["/proc/acpi", "/sys/firmware"] {
            assert_eq!(at(folder)[0]["source"], format!("{points}/empty"));
            assert_eq!(at(folder)[0]["options"], read_only);
        }
        // No tmpfs for either, and no read-only copy of the cgroup folder's mounts.
        assert!(
            mounts
                .iter()
                .all(|m| m["type"] != "tmpfs" || m["destination"] == "/dev")
        );
        let masked = spec["linux"]["maskedPaths"].as_array().unwrap();
        assert!(masked.contains(&json!("/proc/kcore")));
        assert!(
            !masked.contains(&json!("/proc/acpi")) && !masked.contains(&json!("/sys/firmware"))
        );
        assert!(
            !spec["linux"]["readonlyPaths"]
                .as_array()
                .unwrap()
                .contains(&json!("/sys/fs/cgroup"))
        );
        // The folders the create step makes for those binds.
        assert_eq!(
            super::super::cgroup_mount_points(&v1, &record.cgroup("app")),
            ["memory", "cpu", "cpu,cpuacct"]
        );
        assert!(super::super::cgroup_mount_points(&host(false), "x").is_empty());
    }

    #[test]
    fn a_negative_oom_score_only_with_cap_sys_resource() {
        let mut record = record();
        // Burstable: 1000 - 1000 * 64Mi / 1Gi, set with or without the capability.
        assert_eq!(
            app(&record, "fixed", &host(false))["process"]["oomScoreAdj"],
            938
        );
        // Guaranteed: -997, which the kernel refuses without CAP_SYS_RESOURCE.
        record.qos_class = Some(crate::spec::QosClass::Guaranteed);
        let without = app(&record, "fixed", &host(false));
        assert!(
            without["process"].get("oomScoreAdj").is_none(),
            "the score is left alone: {}",
            without["process"]
        );
        let with = app(&record, "fixed", &host(true));
        assert_eq!(with["process"]["oomScoreAdj"], -997);
        let pause = |cap| {
            let spec = pause_spec(&record, &joined(), Path::new("/r"), &host(cap)).unwrap();
            serde_json::to_value(spec).unwrap()["process"]["oomScoreAdj"].clone()
        };
        assert_eq!(pause(true), -998);
        assert!(pause(false).is_null());
    }

    #[test]
    fn pause_joins_the_pins_makes_the_pid_namespace_and_the_same_inputs_give_the_same_spec() {
        let record = record();
        let spec = serde_json::to_value(
            pause_spec(&record, &joined(), Path::new("/r"), &host(false)).unwrap(),
        )
        .unwrap();
        let namespaces: Vec<(String, Option<String>)> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let path = n["path"].as_str().map(String::from);
                (n["type"].as_str().unwrap().to_string(), path)
            })
            .collect();
        let pinned = |kind: &str, file: &str| (kind.into(), Some(format!("/root/ns/u1/{file}")));
        assert_eq!(
            namespaces,
            [
                ("mount".into(), None),
                pinned("network", "net"),
                pinned("ipc", "ipc"),
                pinned("uts", "uts"),
                ("pid".into(), None)
            ]
        );
        // The hostname is the pin's: the runtime must not set one.
        assert!(spec.get("hostname").is_none());
        let mounts: Vec<&str> = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(mounts, ["/dev"]);
        // (Compared as specs: capabilities are sets, serialised in any order.)
        assert_eq!(
            app_oci(&record, "app", &host(false)),
            app_oci(&record, "app", &host(false))
        );
    }
}
