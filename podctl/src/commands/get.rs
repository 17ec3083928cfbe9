//! `podctl get pods [NAME]`: a table as kubectl's, or the pods as
//! Kubernetes API objects.

use std::path::Path;

use podcore::kube::columns;
use podcore::pod::{self, PodEntry};
use podcore::supervisor;

use crate::commands::Resource;
use crate::output;
use crate::pods::Pod;

/// `podctl get` arguments.
#[derive(clap::Args)]
pub struct GetArgs {
    /// pods (pod, po), configmaps (configmap, cm) or secrets (secret).
    resource: Resource,
    /// Only this one.
    name: Option<String>,
    /// Output (default: a table).
    #[arg(short, long, value_enum)]
    output: Option<GetOutput>,
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// Every namespace (a NAMESPACE column comes first).
    #[arg(short = 'A', long, conflicts_with = "name")]
    all_namespaces: bool,
}

/// `get -o`: kubectl's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GetOutput {
    /// The table with the pod's IP and UID.
    Wide,
    /// Kubernetes API objects as JSON.
    Json,
    /// Kubernetes API objects as YAML.
    Yaml,
    /// `pod/NAME` lines.
    Name,
}

/// `podctl get pods`.
pub fn run(root: &Path, args: GetArgs) -> anyhow::Result<()> {
    if let Some(kind) = args.resource.object_kind() {
        let namespace = (!args.all_namespaces).then_some(args.namespace.as_str());
        return super::objects::get(root, kind, args.name.as_deref(), namespace, args.output);
    }
    let namespace = args.namespace.as_str();
    let entries: Vec<PodEntry> = match &args.name {
        Some(name) => vec![pod::find(root, namespace, name)?],
        None => pod::list(root)
            .into_iter()
            .filter(|p| args.all_namespaces || p.namespace == namespace)
            .collect(),
    };
    // A pod whose record cannot be read is listed as Unknown with the reason;
    // the others list as usual, and `delete` still removes it.
    let mut pods = Vec::new();
    let mut unreadable = Vec::new();
    for (entry, read) in entries.iter().zip(Pod::load_all(root, &entries)) {
        match read {
            Ok(pod) => pods.push(pod),
            Err(error) => unreadable.push((entry.clone(), supervisor::chain(error.as_ref()))),
        }
    }
    match args.output {
        Some(format @ (GetOutput::Json | GetOutput::Yaml)) => {
            let objects: Vec<serde_json::Value> = pods
                .iter()
                .map(|p| podcore::kube::pod_object(&p.record, p.status.as_ref()))
                .chain(unreadable.iter().map(|(e, why)| {
                    podcore::kube::unreadable_pod_object(&e.namespace, &e.name, &e.uid, why)
                }))
                .map(|pod| serde_json::to_value(pod).expect("a pod serialises"))
                .collect();
            print_api_objects(objects, args.name.is_some(), format)?;
        }
        Some(GetOutput::Name) => {
            for pod in &pods {
                println!("pod/{}", pod.name());
            }
            for (entry, _) in &unreadable {
                println!("pod/{}", entry.name);
            }
        }
        None | Some(GetOutput::Wide) => {
            for (entry, why) in &unreadable {
                eprintln!("warning: pod {}: {why}", entry.name);
            }
            if pods.is_empty() && unreadable.is_empty() {
                if args.all_namespaces {
                    eprintln!("No resources found");
                } else {
                    eprintln!("No resources found in {namespace} namespace.");
                }
                return Ok(());
            }
            let wide = args.output == Some(GetOutput::Wide);
            table(&pods, &unreadable, wide, args.all_namespaces)?;
        }
    }
    Ok(())
}

/// API objects as `-o json|yaml` prints them: the one named, else a `List`.
pub fn print_api_objects(
    mut items: Vec<serde_json::Value>,
    named: bool,
    format: GetOutput,
) -> anyhow::Result<()> {
    let value = if named && items.len() == 1 {
        items.remove(0)
    } else {
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
    };
    if format == GetOutput::Json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", serde_yaml_ng::to_string(&value)?);
    }
    Ok(())
}

/// kubectl's table: NAME READY STATUS RESTARTS AGE (and IP UID when wide).
fn table(
    pods: &[Pod],
    unreadable: &[(PodEntry, String)],
    wide: bool,
    namespaces: bool,
) -> std::io::Result<()> {
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|pod| {
            let (spec, status) = (&pod.record.spec, pod.status.as_ref());
            let mut row = vec![
                spec.name.clone(),
                columns::ready(spec, status),
                columns::status(spec, status),
                columns::restarts(status).to_string(),
                output::age(pod.record.created, now),
            ];
            if wide {
                row.push(
                    status
                        .and_then(|s| s.pod_ip.clone())
                        .unwrap_or_else(|| "<none>".into()),
                );
                row.push(pod.record.uid.clone());
            }
            row
        })
        .chain(unreadable.iter().map(|(entry, _)| {
            let mut row = vec![
                entry.name.clone(),
                "0/0".into(),
                "Unknown".into(),
                "0".into(),
                "<unknown>".into(),
            ];
            if wide {
                row.extend(["<none>".to_string(), entry.uid.clone()]);
            }
            row
        }))
        .collect();
    let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if wide {
        header.extend(["IP", "UID"]);
    }
    if namespaces {
        // kubectl's NAMESPACE column, first.
        let spaces = pods
            .iter()
            .map(|p| p.record.spec.namespace.clone())
            .chain(unreadable.iter().map(|(e, _)| e.namespace.clone()));
        let rows: Vec<Vec<String>> = spaces
            .zip(rows)
            .map(|(namespace, row)| std::iter::once(namespace).chain(row).collect())
            .collect();
        header.insert(0, "NAMESPACE");
        return output::table(&header, &rows);
    }
    output::table(&header, &rows)
}
