//! `podctl describe pod NAME`: the page kubectl describe shows.

use std::collections::BTreeMap;
use std::path::Path;

use podcore::status::ContainerState;
use podcore::supervisor;

use crate::commands::Resource;
use crate::output;
use crate::pods::Pod;

/// `podctl describe` arguments.
#[derive(clap::Args)]
pub struct DescribeArgs {
    /// pod (or pods, po).
    resource: Resource,
    name: String,
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

/// `podctl describe pod NAME`: the kubectl-style page.
pub fn run(root: &Path, args: DescribeArgs) -> anyhow::Result<()> {
    if args.resource != Resource::Pods {
        anyhow::bail!(crate::error::CliError::Usage(
            "describe shows pods; use get -o yaml for ConfigMaps and Secrets".into()
        ));
    }
    let Pod { record, status, .. } = Pod::find(root, &args.namespace, &args.name)?;
    let spec = &record.spec;
    let now = chrono::Utc::now();
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("Name:             {}", spec.name));
    line(format!("Namespace:        {}", spec.namespace));
    line(format!("UID:              {}", record.uid));
    line(format!("Kind:             {}", spec.source_kind));
    line(format!("Start Time:       {}", record.created.to_rfc2822()));
    let labels: Vec<String> = spec
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    line(format!(
        "Labels:           {}",
        if labels.is_empty() {
            "<none>".into()
        } else {
            labels.join(",")
        }
    ));
    if let Some(s) = &status {
        line(format!(
            "Status:           {}",
            if s.terminating {
                "Terminating"
            } else {
                s.phase.as_str()
            }
        ));
        if let Some(reason) = &s.reason {
            line(format!("Reason:           {reason}"));
        }
        if let Some(message) = &s.message {
            line(format!("Message:          {message}"));
        }
        line(format!(
            "IP:               {}",
            s.pod_ip.clone().unwrap_or_default()
        ));
        line(format!("QoS Class:        {}", s.qos_class));
    }
    let statuses: BTreeMap<String, podcore::status::ContainerStatus> = status
        .as_ref()
        .map(supervisor::container_statuses)
        .unwrap_or_default();
    for (title, list) in [
        ("Init Containers", &spec.init_containers),
        ("Containers", &spec.containers),
    ] {
        if list.is_empty() {
            continue;
        }
        line(format!("{title}:"));
        for c in list {
            line(format!("  {}:", c.name));
            let st = statuses.get(&c.name);
            line(format!(
                "    Container ID:  {}",
                st.map(|s| format!("podctl://{}", s.container_id))
                    .unwrap_or_default()
            ));
            line(format!("    Image:         {}", c.image));
            line(format!(
                "    Image ID:      {}",
                st.map(|s| s.image_id.clone()).unwrap_or_default()
            ));
            if let Some(command) = &c.command {
                line(format!("    Command:       {}", command.join(" ")));
            }
            if let Some(args) = &c.args {
                line(format!("    Args:          {}", args.join(" ")));
            }
            if let Some(s) = st {
                let state = describe_state(&s.state);
                line(format!("    State:         {}", state[0]));
                for extra in &state[1..] {
                    line(format!("    {extra}"));
                }
                if let Some(last) = &s.last_state {
                    let lines = terminated_lines(last);
                    line(format!("    Last State:    {}", lines[0]));
                    for extra in &lines[1..] {
                        line(format!("    {extra}"));
                    }
                }
                line(format!(
                    "    Ready:         {}",
                    if s.ready { "True" } else { "False" }
                ));
                line(format!("    Restart Count: {}", s.restart_count));
            }
            let r = &c.resources;
            if r.cpu_limit.is_some() || r.memory_limit.is_some() {
                line(format!(
                    "    Limits:        cpu={} memory={}",
                    r.cpu_limit.map_or("-".into(), |m| format!("{m}m")),
                    r.memory_limit.map_or("-".into(), |b| b.to_string())
                ));
            }
            if r.cpu_request.is_some() || r.memory_request.is_some() {
                line(format!(
                    "    Requests:      cpu={} memory={}",
                    r.cpu_request.map_or("-".into(), |m| format!("{m}m")),
                    r.memory_request.map_or("-".into(), |b| b.to_string())
                ));
            }
            line("    Mounts:".into());
            if c.volume_mounts.is_empty() {
                line("      <none>".into());
            }
            for m in &c.volume_mounts {
                line(format!(
                    "      {} from {} ({})",
                    m.mount_path,
                    m.name,
                    if m.read_only { "ro" } else { "rw" }
                ));
            }
        }
    }
    if let Some(s) = &status {
        line("Conditions:".into());
        line("  Type              Status".into());
        for c in &s.conditions {
            line(format!(
                "  {:<17} {}",
                c.kind,
                if c.status { "True" } else { "False" }
            ));
        }
    }
    line("Volumes:".into());
    if spec.volumes.is_empty() {
        line("  <none>".into());
    }
    for v in &spec.volumes {
        let kind = match &v.source {
            podcore::spec::VolumeSource::EmptyDir { memory, size_limit } => format!(
                "EmptyDir (a temporary directory that shares a pod's lifetime), Medium: {}, SizeLimit: {}",
                if *memory { "Memory" } else { "" },
                size_limit.map_or("<unset>".into(), |b| b.to_string())
            ),
            podcore::spec::VolumeSource::HostPath { path, kind } => {
                format!("HostPath (bare host directory volume), Path: {path}, HostPathType: {kind}")
            }
            podcore::spec::VolumeSource::Files { kind, sources, .. } => {
                let names: Vec<String> = sources
                    .iter()
                    .map(|s| match s {
                        podcore::spec::Projection::Object { object, .. } => format!(
                            "{} {}{}",
                            object.kind,
                            object.name,
                            if object.optional { " (optional)" } else { "" }
                        ),
                        podcore::spec::Projection::Downward(files) => {
                            format!("DownwardAPI ({} files)", files.len())
                        }
                    })
                    .collect();
                format!("{kind} (files, read-only), Sources: {}", names.join(", "))
            }
        };
        line(format!("  {}:", v.name));
        line(format!("    Type: {kind}"));
    }
    line("Events:".into());
    match &status {
        Some(s) if !s.events.is_empty() => {
            line(format!(
                "  {:<8} {:<15} {:<6} {}",
                "Type", "Reason", "Age", "Message"
            ));
            for e in &s.events {
                line(format!(
                    "  {:<8} {:<15} {:<6} {}",
                    e.kind,
                    e.reason,
                    output::age(e.time, now),
                    e.message
                ));
            }
        }
        _ => line("  <none>".into()),
    }
    print!("{out}");
    Ok(())
}

fn describe_state(state: &ContainerState) -> Vec<String> {
    match state {
        ContainerState::Waiting { reason, message } => {
            let mut out = vec!["Waiting".to_string(), format!("  Reason:       {reason}")];
            if let Some(m) = message {
                out.push(format!("  Message:      {m}"));
            }
            out
        }
        ContainerState::Running { started_at } => vec![
            "Running".into(),
            format!("  Started:      {}", started_at.to_rfc2822()),
        ],
        ContainerState::Terminated(t) => terminated_lines(t),
    }
}

fn terminated_lines(t: &podcore::status::Terminated) -> Vec<String> {
    let mut out = vec![
        "Terminated".to_string(),
        format!("  Reason:       {}", t.reason),
        format!("  Exit Code:    {}", t.exit_code),
    ];
    if let Some(signal) = t.signal {
        out.push(format!("  Signal:       {signal}"));
    }
    if let Some(m) = &t.message {
        out.push(format!("  Message:      {m}"));
    }
    if let Some(s) = t.started_at {
        out.push(format!("  Started:      {}", s.to_rfc2822()));
    }
    out.push(format!("  Finished:     {}", t.finished_at.to_rfc2822()));
    out
}
