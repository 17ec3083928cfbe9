//! Where images come from: registry settings (mirrors, plain HTTP) in
//! podman's `registries.conf` shape, and credentials in the Docker config
//! file's shape (`auths.<host>.auth` = base64 of `user:password`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The default registries config.
pub const DEFAULT_CONFIG: &str = "/etc/podctl/registries.toml";

/// Registry settings:
///
/// ```toml
/// insecure = ["registry.lan:5000"]       # plain HTTP allowed
/// [[registry]]
/// prefix = "registry.k8s.io"             # the registry an image names
/// [[registry.mirror]]
/// location = "127.0.0.1:5001"            # tried first, in order
/// insecure = true
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Registries reached over plain HTTP (loopback ones always are).
    #[serde(default)]
    pub insecure: Vec<String>,
    #[serde(default)]
    pub registry: Vec<RegistryEntry>,
}

/// One registry's mirrors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// The registry host an image names (`docker.io`, `registry.k8s.io`).
    pub prefix: String,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub mirror: Vec<Mirror>,
}

/// A mirror endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// `host[:port]`.
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

/// Where an image is fetched from, in the order tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`.
    pub host: String,
    /// Plain HTTP.
    pub plain_http: bool,
    pub mirror: bool,
}

impl Settings {
    /// Read `path`; a missing file is no settings.
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("read {}: {e}", path.display())),
        }
    }

    /// Whether `host` is reached over plain HTTP: on loopback (as Docker
    /// does) or listed as insecure.
    pub fn plain_http(&self, host: &str) -> bool {
        loopback(host)
            || self.insecure.iter().any(|h| h == host)
            || self.registry.iter().any(|r| r.prefix == host && r.insecure)
    }

    /// The endpoints for an image of `registry`: its mirrors, then itself.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .registry
            .iter()
            .filter(|r| r.prefix == registry)
            .flat_map(|r| &r.mirror)
            .map(|m| Endpoint {
                host: m.location.clone(),
                plain_http: m.insecure || self.plain_http(&m.location),
                mirror: true,
            })
            .collect();
        out.push(Endpoint {
            host: registry.to_string(),
            plain_http: self.plain_http(registry),
            mirror: false,
        });
        out
    }
}

/// Whether `host[:port]` is on loopback.
pub fn loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A user name and password for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

/// The credentials file podctl reads first and `podctl login` writes:
/// `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn auth_file() -> PathBuf {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return PathBuf::from(file);
    }
    docker_config()
}

fn docker_config() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".docker/config.json"),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// Whatever else the file holds is kept as it is.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

fn read_auth_file(path: &Path) -> Result<AuthFile, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
        Err(e) => Err(format!("read {}: {e}", path.display())),
    }
}

/// The names a registry's entry may have in an auth file (Docker Hub's
/// historical key too).
fn keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
    ];
    if host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
        keys.push("https://index.docker.io/v1/".into());
        keys.push("docker.io".into());
    }
    keys
}

/// The credential for `host`: from `$REGISTRY_AUTH_FILE`, then the Docker
/// config file; none when neither has one.
pub fn credential(host: &str) -> Result<Option<Credential>, String> {
    let mut files = vec![auth_file()];
    if std::env::var_os("REGISTRY_AUTH_FILE").is_some() {
        files.push(docker_config());
    }
    for file in files {
        let auths = read_auth_file(&file)?;
        for key in keys(host) {
            if let Some(entry) = auths.auths.get(&key).filter(|e| !e.auth.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(entry.auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        format!(
                            "{}: auths.{key}.auth is not base64 of user:password",
                            file.display()
                        )
                    })?;
                let (username, password) = decoded.split_once(':').ok_or_else(|| {
                    format!(
                        "{}: auths.{key}.auth is not base64 of user:password",
                        file.display()
                    )
                })?;
                return Ok(Some(Credential {
                    username: username.into(),
                    password: password.into(),
                }));
            }
        }
    }
    Ok(None)
}

/// Store `credential` for `host` in [`auth_file`] (created mode 0600,
/// replaced atomically, its other entries kept); `None` removes it.
/// Returns the file written.
pub fn store_credential(host: &str, credential: Option<&Credential>) -> Result<PathBuf, String> {
    let path = auth_file();
    let mut file = read_auth_file(&path)?;
    let mut removed = false;
    for key in keys(host) {
        removed |= file.auths.remove(&key).is_some();
    }
    match credential {
        Some(c) => {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            file.auths.insert(
                host.to_string(),
                AuthEntry {
                    auth,
                    other: BTreeMap::new(),
                },
            );
        }
        None if !removed => return Err(format!("not logged in to {host}")),
        None => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    crate::fsutil::write_atomic_mode(&path, &bytes, 0o600)
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_and_loopback_is_plain_http() {
        let settings: Settings = toml::from_str(
            "insecure = [\"reg.lan:5000\"]\n[[registry]]\nprefix = \"registry.k8s.io\"\n[[registry.mirror]]\nlocation = \"127.0.0.1:5001\"\n[[registry.mirror]]\nlocation = \"mirror.lan\"\n",
        )
        .unwrap();
        let endpoints = settings.endpoints("registry.k8s.io");
        let hosts: Vec<(&str, bool, bool)> = endpoints
            .iter()
            .map(|e| (e.host.as_str(), e.plain_http, e.mirror))
            .collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1:5001", true, true),
                ("mirror.lan", false, true),
                ("registry.k8s.io", false, false)
            ]
        );
        assert!(settings.plain_http("reg.lan:5000"));
        assert!(settings.plain_http("localhost:5000"));
        assert!(settings.plain_http("[::1]:5000"));
        assert!(!settings.plain_http("docker.io"));
        assert!(toml::from_str::<Settings>("mirrors = 1").is_err());
    }
}
