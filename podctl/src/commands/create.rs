//! `podctl create configmap|secret NAME --from-literal K=V --from-file [K=]PATH`,
//! as kubectl's: the object is made from literals and files (a folder gives
//! one key per file in it) and stored; it must not exist yet.

use std::path::Path;

use anyhow::{Context, bail};
use podcore::objects::{Kind, Object, Objects};

use crate::error::CliError;

/// `podctl create` arguments.
#[derive(clap::Subcommand)]
pub enum CreateCommand {
    /// Make a ConfigMap.
    ///
    /// Example: podctl create configmap settings --from-literal mode=fast --from-file nginx.conf
    #[command(alias = "cm")]
    Configmap(ObjectArgs),
    /// Make a Secret (`generic` may come before its name, as with kubectl).
    ///
    /// Example: podctl create secret generic db --from-literal password=hunter2
    Secret(SecretArgs),
}

/// `create configmap NAME`.
#[derive(clap::Args)]
pub struct ObjectArgs {
    name: String,
    #[command(flatten)]
    data: ObjectData,
}

/// `create secret [generic] NAME`.
#[derive(clap::Args)]
pub struct SecretArgs {
    /// `generic` (the only type), or the name.
    #[arg(value_name = "[generic] NAME")]
    first: String,
    #[arg(hide = true)]
    name: Option<String>,
    #[command(flatten)]
    data: ObjectData,
}

/// `--from-literal`, `--from-file` and the namespace.
#[derive(clap::Args)]
pub struct ObjectData {
    /// KEY=VALUE (repeatable).
    #[arg(long)]
    from_literal: Vec<String>,
    /// [KEY=]PATH: a file (its name is the key) or a folder (a key per file).
    #[arg(long)]
    from_file: Vec<String>,
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

pub fn run(root: &Path, command: CreateCommand) -> anyhow::Result<()> {
    let (kind, name, literals, files, namespace) = match command {
        CreateCommand::Configmap(a) => {
            let d = a.data;
            (
                Kind::ConfigMap,
                a.name,
                d.from_literal,
                d.from_file,
                d.namespace,
            )
        }
        CreateCommand::Secret(a) => {
            let name = match (a.first.as_str(), a.name) {
                ("generic", Some(name)) => name,
                (_, Some(_)) => bail!(CliError::Usage(format!(
                    "create secret {}: only generic secrets are made (create secret generic NAME)",
                    a.first
                ))),
                (_, None) => a.first,
            };
            let d = a.data;
            (Kind::Secret, name, d.from_literal, d.from_file, d.namespace)
        }
    };
    let mut data = std::collections::BTreeMap::new();
    let mut add = |key: String, value: Vec<u8>| -> anyhow::Result<()> {
        if data.insert(key.clone(), value).is_some() {
            bail!(CliError::Usage(format!("key {key:?} is given twice")));
        }
        Ok(())
    };
    for literal in literals {
        let Some((key, value)) = literal.split_once('=') else {
            bail!(CliError::Usage(format!(
                "--from-literal {literal:?}: expected KEY=VALUE"
            )));
        };
        add(key.to_string(), value.as_bytes().to_vec())?;
    }
    for file in files {
        let (key, path) = match file.split_once('=') {
            Some((key, path)) => (Some(key.to_string()), Path::new(path).to_path_buf()),
            None => (None, Path::new(&file).to_path_buf()),
        };
        if path.is_dir() {
            if key.is_some() {
                bail!(CliError::Usage(format!(
                    "--from-file {file:?}: a folder gives a key per file; give it without KEY="
                )));
            }
            let mut entries: Vec<_> = std::fs::read_dir(&path)
                .with_context(|| format!("read {}", path.display()))?
                .flatten()
                .filter(|e| e.path().is_file())
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let bytes = std::fs::read(entry.path())
                    .with_context(|| format!("read {}", entry.path().display()))?;
                add(entry.file_name().to_string_lossy().into_owned(), bytes)?;
            }
        } else {
            let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            let key = key.unwrap_or_else(|| {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            add(key, bytes)?;
        }
    }
    let object = Object {
        kind,
        namespace,
        name,
        data,
    };
    let objects = Objects::new(root);
    if objects
        .get(kind, &object.namespace, &object.name)?
        .is_some()
    {
        bail!(
            "{} already exists in namespace {:?}: delete it first or use podctl apply",
            object.display_name(),
            object.namespace
        );
    }
    objects
        .put(&object)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    println!("{} created", object.display_name());
    Ok(())
}
