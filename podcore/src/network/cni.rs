//! CNI, the container network interface, by its 1.0.0 exec protocol: a
//! network configuration list (`*.conflist`), each plugin run as a process
//! with `CNI_COMMAND` and friends in its environment, its configuration on
//! stdin and its result (or a CNI error) on stdout.
//!
//! Written here rather than taken from a crate: the protocol is a handful of
//! environment variables and two JSON documents, and the crates for it are
//! either plugin-side (`cni-plugin`) or unmaintained; what matters is done
//! as libcni does it: plugins added in order, each handed the previous
//! result as `prevResult`; deleted in reverse with the cached final result;
//! `runtimeConfig` filled for the capabilities a plugin declares.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Why a network could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("CNI network config {source_file}: {detail}")]
    Config { source_file: String, detail: String },
    #[error(
        "CNI plugin {plugin:?} of network {network:?} ({source_file}) is not in {dirs}: install it (Debian: containernetworking-plugins) or set --cni-bin-dir"
    )]
    MissingPlugin {
        plugin: String,
        network: String,
        source_file: String,
        dirs: String,
    },
    #[error(
        "CNI plugin {plugin:?} of network {network:?} ({source_file}) failed to {command}: {message}"
    )]
    Plugin {
        plugin: String,
        network: String,
        source_file: String,
        command: &'static str,
        message: String,
    },
}

/// A network configuration list and where it came from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Conflist {
    /// The file it was read from, or `built-in`.
    pub source: String,
    pub value: Value,
}

impl Conflist {
    /// Check the shape libcni requires: a name, a version, plugins with a type.
    pub fn new(source: String, value: Value) -> Result<Self, CniError> {
        let bad = |detail: String| CniError::Config {
            source_file: source.clone(),
            detail,
        };
        if !value.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        if value["name"].as_str().is_none_or(|n| n.is_empty()) {
            return Err(bad("\"name\" is missing: name the network".into()));
        }
        if !value["cniVersion"].is_string() {
            return Err(bad("\"cniVersion\" is missing: use \"1.0.0\"".into()));
        }
        let plugins = value["plugins"]
            .as_array()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("\"plugins\" must be a list of at least one plugin".into()))?;
        for (i, plugin) in plugins.iter().enumerate() {
            let kind = plugin["type"].as_str().unwrap_or_default();
            if kind.is_empty() || kind.contains('/') || kind.starts_with('.') {
                return Err(bad(format!("plugins[{i}].type must name a plugin binary")));
            }
        }
        Ok(Self { source, value })
    }

    /// The first `*.conflist` of `dir` by name, if any.
    pub fn first_in(dir: &Path) -> Result<Option<Self>, CniError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conflist"))
            .collect();
        files.sort();
        let Some(file) = files.into_iter().next() else {
            return Ok(None);
        };
        let source = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| CniError::Config {
            source_file: source.clone(),
            detail: e.to_string(),
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| CniError::Config {
            source_file: source.clone(),
            detail: format!("not JSON: {e}"),
        })?;
        Self::new(source, value).map(Some)
    }

    fn name(&self) -> String {
        self.value["name"].as_str().unwrap_or_default().to_string()
    }

    fn plugins(&self) -> &[Value] {
        self.value["plugins"]
            .as_array()
            .map_or(&[], |p| p.as_slice())
    }

    /// A plugin's own configuration, as libcni hands it over.
    fn plugin_config(&self, plugin: &Value, runtime: &Runtime, prev: Option<&Value>) -> Value {
        let mut config = plugin.clone();
        config["name"] = self.value["name"].clone();
        config["cniVersion"] = self.value["cniVersion"].clone();
        if let Some(prev) = prev {
            config["prevResult"] = prev.clone();
        }
        let capabilities = &plugin["capabilities"];
        let mut runtime_config = serde_json::Map::new();
        if capabilities["portMappings"] == true && !runtime.port_mappings.is_empty() {
            runtime_config.insert("portMappings".into(), json!(runtime.port_mappings));
        }
        if !runtime_config.is_empty() {
            config["runtimeConfig"] = Value::Object(runtime_config);
        }
        config
    }
}

/// A `portMappings` entry for the portmap plugin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// What the runtime tells the plugins about this attachment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Runtime {
    pub container_id: String,
    /// The pinned network namespace (may be gone on DEL).
    pub netns: PathBuf,
    pub ifname: String,
    /// Folders holding the plugin binaries.
    pub bin_dirs: Vec<PathBuf>,
    /// `CNI_ARGS`: `K8S_POD_NAMESPACE=...;K8S_POD_NAME=...`.
    pub args: String,
    pub port_mappings: Vec<PortMapping>,
}

/// Add the attachment: every plugin in order, the first handed `prev` (an
/// interface made before the chain) as its `prevResult`. Returns the final
/// result. On failure what the chain added is deleted again.
pub fn add(list: &Conflist, runtime: &Runtime, prev: Option<Value>) -> Result<Value, CniError> {
    let mut prev = prev;
    for plugin in list.plugins() {
        let config = list.plugin_config(plugin, runtime, prev.as_ref());
        match exec(list, plugin, "ADD", &config, runtime) {
            Ok(result) => prev = Some(result),
            Err(error) => {
                let _ = del(list, runtime, prev.as_ref());
                return Err(error);
            }
        }
    }
    Ok(prev.unwrap_or_else(|| json!({})))
}

/// Check the attachment is as ADD left it: every plugin in order, each
/// given the final ADD result (CNI 0.4.0 and later).
pub fn check(list: &Conflist, runtime: &Runtime, result: &Value) -> Result<(), CniError> {
    for plugin in list.plugins() {
        let config = list.plugin_config(plugin, runtime, Some(result));
        exec(list, plugin, "CHECK", &config, runtime)?;
    }
    Ok(())
}

/// Delete the attachment: every plugin in reverse, each given the final
/// ADD result; all are run, and the first error is returned.
pub fn del(list: &Conflist, runtime: &Runtime, result: Option<&Value>) -> Result<(), CniError> {
    let mut first = None;
    for plugin in list.plugins().iter().rev() {
        let config = list.plugin_config(plugin, runtime, result);
        if let Err(error) = exec(list, plugin, "DEL", &config, runtime) {
            tracing::warn!(%error, "CNI DEL");
            first.get_or_insert(error);
        }
    }
    first.map_or(Ok(()), Err)
}

fn exec(
    list: &Conflist,
    plugin: &Value,
    command: &'static str,
    config: &Value,
    runtime: &Runtime,
) -> Result<Value, CniError> {
    let kind = plugin["type"].as_str().unwrap_or_default().to_string();
    let binary = runtime
        .bin_dirs
        .iter()
        .map(|d| d.join(&kind))
        .find(|p| p.is_file())
        .ok_or_else(|| CniError::MissingPlugin {
            plugin: kind.clone(),
            network: list.name(),
            source_file: list.source.clone(),
            dirs: join(&runtime.bin_dirs),
        })?;
    let failed = |message: String| CniError::Plugin {
        plugin: kind.clone(),
        network: list.name(),
        source_file: list.source.clone(),
        command,
        message,
    };
    // Only a namespace that is really pinned there (a pin made in another
    // mount namespace leaves a plain file here); DEL works without one.
    let netns = if crate::namespaces::is_namespace(&runtime.netns) {
        runtime.netns.display().to_string()
    } else {
        String::new()
    };
    let started = std::time::Instant::now();
    let mut child = Command::new(&binary)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &runtime.container_id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", &runtime.ifname)
        .env("CNI_PATH", join(&runtime.bin_dirs))
        .env("CNI_ARGS", &runtime.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {}: {e}", binary.display())))?;
    let input = serde_json::to_vec(config).expect("a JSON value encodes");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input);
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(format!("wait for {}: {e}", binary.display())))?;
    tracing::debug!(
        "step CNI {command} {kind}: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if !output.status.success() {
        // The spec's error: {"code": N, "msg": "...", "details": "..."}.
        let error: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        let message = match (error["msg"].as_str(), error["details"].as_str()) {
            (Some(msg), Some(details)) if !details.is_empty() => format!("{msg}: {details}"),
            (Some(msg), _) => msg.to_string(),
            _ => {
                let text = String::from_utf8_lossy(&output.stderr);
                let text = if text.trim().is_empty() {
                    String::from_utf8_lossy(&output.stdout)
                } else {
                    text
                };
                format!("{} ({})", text.trim(), output.status)
            }
        };
        return Err(failed(message));
    }
    if command != "ADD" || output.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| failed(format!("its result is not JSON: {e}")))
}

fn join(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// The pod's addresses in a CNI result (`ips[].address`, without the prefix length).
pub fn addresses(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip["address"].as_str())
        .map(|a| a.split('/').next().unwrap_or(a).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> Runtime {
        Runtime {
            container_id: "u".into(),
            netns: "/nonexistent".into(),
            ifname: "eth0".into(),
            bin_dirs: vec![],
            args: String::new(),
            port_mappings: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: None,
            }],
        }
    }

    #[test]
    fn plugins_get_name_version_prev_result_and_their_capabilities() {
        let list = Conflist::new(
            "x.conflist".into(),
            json!({"cniVersion": "1.0.0", "name": "n", "plugins": [
                {"type": "bridge"},
                {"type": "portmap", "capabilities": {"portMappings": true}},
            ]}),
        )
        .unwrap();
        let prev = json!({"ips": [{"address": "10.86.0.2/16"}]});
        let bridge = list.plugin_config(&list.plugins()[0], &runtime(), None);
        assert_eq!(bridge["name"], "n");
        assert!(bridge.get("runtimeConfig").is_none() && bridge.get("prevResult").is_none());
        let portmap = list.plugin_config(&list.plugins()[1], &runtime(), Some(&prev));
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"][0],
            json!({"hostPort": 8080, "containerPort": 80, "protocol": "tcp"})
        );
        assert_eq!(addresses(&prev), ["10.86.0.2"]);
    }

    #[test]
    fn a_conflist_must_name_its_network_and_plugins() {
        for bad in [
            json!([]),
            json!({"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}),
            json!({"cniVersion": "1.0.0", "name": "n", "plugins": []}),
            json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../x"}]}),
        ] {
            assert!(Conflist::new("f".into(), bad).is_err());
        }
    }
}
