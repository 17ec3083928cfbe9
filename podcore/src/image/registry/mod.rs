//! Images from registries: pull and push through the OCI distribution spec
//! (`oci-client`: the HTTP API, Bearer token and basic auth), with every blob
//! verified by digest and size while it streams, before it enters the store.
//!
//! A pull builds an OCI layout in the store's `tmp/` (blobs the store holds
//! already are linked, not downloaded) and imports it as any layout is
//! imported: under the store's lock, checked again, all or nothing. Two
//! pulls of one image at once both succeed and the store keeps one copy.

pub mod config;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::{Digest, ImageSummary, MAX_DOCUMENT, Platform, Reference, Store};
pub use config::{Credential, Endpoint, Settings};

/// Media types of image manifests and indexes a pull accepts.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPTED: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Layers fetched at once from one registry.
const CONNECTIONS: usize = 4;

/// Why a pull or push failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Reference(String),
    #[error("{0}")]
    Config(String),
    /// The registry refused the credentials, or asked for some.
    #[error(
        "{action} {reference}: {endpoint} refused access ({cause}): log in with `podctl login {endpoint}`, or check the credentials in {file}"
    )]
    Unauthorized {
        action: &'static str,
        reference: String,
        endpoint: String,
        cause: String,
        file: String,
    },
    #[error("{action} {reference}: {endpoint}: {cause}")]
    Remote {
        action: &'static str,
        reference: String,
        endpoint: String,
        cause: String,
    },
    #[error("pull {reference}: no image for {wanted} in its index (it has: {available})")]
    Platform {
        reference: String,
        wanted: String,
        available: String,
    },
    /// The registry sent something other than what was asked for.
    #[error("pull {reference}: {what} {digest} from {endpoint} does not verify: {detail}")]
    Verify {
        reference: String,
        endpoint: String,
        what: &'static str,
        digest: String,
        detail: String,
    },
    #[error(
        "pull {reference}: {endpoint} sent a manifest of media type {media_type:?}: OCI and Docker schema 2 images and indexes are supported"
    )]
    MediaType {
        reference: String,
        endpoint: String,
        media_type: String,
    },
    #[error("{0}")]
    Store(#[from] super::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether another endpoint (the origin after a mirror) may still succeed.
    fn is_remote(&self) -> bool {
        matches!(
            self,
            Self::Remote { .. } | Self::Unauthorized { .. } | Self::Verify { .. }
        )
    }
}

/// What a pull reports as it goes (a progress bar per layer on a terminal).
pub trait Progress: Send + Sync {
    /// A blob of `size` bytes starts downloading; returns its handle.
    fn start(&self, digest: &str, size: u64) -> usize;
    /// `bytes` more arrived.
    fn advance(&self, id: usize, bytes: u64);
    /// It is complete (`ok`) or abandoned.
    fn finish(&self, id: usize, ok: bool);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str, _: u64) -> usize {
        0
    }
    fn advance(&self, _: usize, _: u64) {}
    fn finish(&self, _: usize, _: bool) {}
}

/// How long a pull took, by part.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Manifests and blobs over the network (verified as they stream).
    pub network: std::time::Duration,
    /// The import into the store (checked again, moved in, named).
    pub import: std::time::Duration,
    /// Bytes downloaded (blobs the store had are not).
    pub downloaded: u64,
}

/// A registry client with settings and credentials.
pub struct Registry {
    settings: Settings,
    progress: Arc<dyn Progress>,
}

/// The reference an image is stored and shown under: Docker's normalised
/// name (`busybox` = `docker.io/library/busybox:latest`, which the store
/// shows as `busybox:latest`).
pub fn normalise(text: &str) -> Result<(oci_client::Reference, Reference), RegistryError> {
    let remote = oci_client::Reference::try_from(text)
        .map_err(|e| RegistryError::Reference(format!("image reference {text:?}: {e}")))?;
    let name = format!("{}/{}", remote.registry(), remote.repository());
    let local = match (remote.digest(), remote.tag()) {
        (Some(digest), _) => format!("{name}@{digest}"),
        (None, Some(tag)) => format!("{name}:{tag}"),
        (None, None) => format!("{name}:latest"),
    };
    let local = Reference::parse(&local).map_err(RegistryError::Reference)?;
    Ok((remote, local))
}

impl Registry {
    pub fn new(settings: Settings, progress: Arc<dyn Progress>) -> Self {
        Self { settings, progress }
    }

    /// The registry client for `endpoint`. Made with `try_from`, not
    /// `Client::new`: on a host without CA certificates `new` falls back to
    /// a default HTTP client whose construction panics.
    fn client(&self, endpoint: &Endpoint) -> Result<Client, RegistryError> {
        let plain = if endpoint.plain_http {
            vec![endpoint.host.clone()]
        } else {
            Vec::new()
        };
        Client::try_from(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            max_concurrent_download: CONNECTIONS,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..Default::default()
        })
        .map_err(|e| {
            RegistryError::Config(format!(
                "make the HTTPS client for {}: {e}: install the host's CA certificates (Debian: ca-certificates)",
                endpoint.host
            ))
        })
    }

    fn auth(host: &str) -> Result<RegistryAuth, RegistryError> {
        Ok(
            match config::credential(host).map_err(RegistryError::Config)? {
                Some(c) => RegistryAuth::Basic(c.username, c.password),
                None => RegistryAuth::Anonymous,
            },
        )
    }

    /// Pull `text` into `store`: mirrors first, then the image's own registry.
    pub fn pull(
        &self,
        store: &Store,
        text: &str,
    ) -> Result<(ImageSummary, Timings), RegistryError> {
        let runtime = runtime()?;
        runtime.block_on(self.pull_async(store, text))
    }

    async fn pull_async(
        &self,
        store: &Store,
        text: &str,
    ) -> Result<(ImageSummary, Timings), RegistryError> {
        let (remote, local) = normalise(text)?;
        let endpoints = self.settings.endpoints(remote.registry());
        let mut failures = Vec::new();
        for endpoint in &endpoints {
            match self.pull_from(store, &remote, &local, endpoint).await {
                Ok(pulled) => return Ok(pulled),
                Err(error) if endpoint.mirror && error.is_remote() => {
                    tracing::warn!(mirror = %endpoint.host, %error, "mirror failed, trying the next endpoint");
                    failures.push(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(failures
            .pop()
            .unwrap_or_else(|| RegistryError::Config("no endpoint".into())))
    }

    async fn pull_from(
        &self,
        store: &Store,
        remote: &oci_client::Reference,
        local: &Reference,
        endpoint: &Endpoint,
    ) -> Result<(ImageSummary, Timings), RegistryError> {
        let started = std::time::Instant::now();
        let shown = remote.whole();
        let here = match (remote.digest(), remote.tag()) {
            (Some(d), _) => oci_client::Reference::with_digest(
                endpoint.host.clone(),
                remote.repository().into(),
                d.into(),
            ),
            (None, tag) => oci_client::Reference::with_tag(
                endpoint.host.clone(),
                remote.repository().into(),
                tag.unwrap_or("latest").into(),
            ),
        };
        let client = self.client(endpoint)?;
        let auth = Self::auth(&endpoint.host)?;
        let fail = |e: oci_client::errors::OciDistributionError| {
            remote_error("pull", &shown, &endpoint.host, e)
        };
        client
            .auth(&here, &auth, RegistryOperation::Pull)
            .await
            .map_err(fail)?;
        let verify = |what, digest: &str, detail: String| RegistryError::Verify {
            reference: shown.clone(),
            endpoint: endpoint.host.clone(),
            what,
            digest: digest.to_string(),
            detail,
        };
        let (bytes, _) = client
            .pull_manifest_raw(&here, &auth, &ACCEPTED)
            .await
            .map_err(fail)?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(verify(
                "manifest",
                "",
                format!("{} bytes: at most {MAX_DOCUMENT}", bytes.len()),
            ));
        }
        let mut digest = Digest::of(&bytes).to_string();
        if let Some(wanted) = remote.digest()
            && wanted != digest
        {
            return Err(verify(
                "manifest",
                wanted,
                format!("its content hashes to {digest}"),
            ));
        }
        let mut manifest_bytes = bytes.to_vec();
        let mut document: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| verify("manifest", &digest, format!("not JSON: {e}")))?;
        let media_type = |doc: &Value| {
            doc["mediaType"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    if doc.get("manifests").is_some() {
                        OCI_INDEX.into()
                    } else {
                        OCI_MANIFEST.into()
                    }
                })
        };
        let mut kind = media_type(&document);
        if kind == OCI_INDEX || kind == DOCKER_LIST {
            let chosen = pick_platform(&document).map_err(|available| RegistryError::Platform {
                reference: shown.clone(),
                wanted: Platform::host().to_string(),
                available,
            })?;
            let child = here.clone_with_digest(chosen.clone());
            let (bytes, _) = client
                .pull_manifest_raw(&child, &auth, &ACCEPTED)
                .await
                .map_err(fail)?;
            if bytes.len() as u64 > MAX_DOCUMENT {
                return Err(verify(
                    "manifest",
                    &chosen,
                    format!("{} bytes: at most {MAX_DOCUMENT}", bytes.len()),
                ));
            }
            digest = Digest::of(&bytes).to_string();
            if digest != chosen {
                return Err(verify(
                    "manifest",
                    &chosen,
                    format!("its content hashes to {digest}"),
                ));
            }
            manifest_bytes = bytes.to_vec();
            document = serde_json::from_slice(&manifest_bytes)
                .map_err(|e| verify("manifest", &digest, format!("not JSON: {e}")))?;
            kind = media_type(&document);
        }
        if kind != OCI_MANIFEST && kind != DOCKER_MANIFEST {
            return Err(RegistryError::MediaType {
                reference: shown.clone(),
                endpoint: endpoint.host.clone(),
                media_type: kind,
            });
        }
        let blobs: Vec<(String, u64)> = std::iter::once(&document["config"])
            .chain(document["layers"].as_array().into_iter().flatten())
            .map(|d| {
                (
                    d["digest"].as_str().unwrap_or_default().to_string(),
                    d["size"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        // A blob's digest names its file: anything but sha256 hex (`../`) is refused here.
        if let Some((bad, _)) = blobs.iter().find(|(d, _)| Digest::parse(d).is_err()) {
            return Err(verify(
                "manifest",
                &digest,
                format!("a descriptor's digest {bad:?} is not sha256: and 64 hex digits"),
            ));
        }

        // The layout to import, in the store's own tmp/ (same filesystem: links work).
        let staging =
            tempfile::tempdir_in(store.dir().join("tmp")).map_err(|e| RegistryError::Io {
                context: "create the pull's staging folder".into(),
                source: e,
            })?;
        let blob_dir = staging.path().join("blobs/sha256");
        std::fs::create_dir_all(&blob_dir).map_err(io("create the pull's staging folder"))?;
        let manifest_file = blob_dir.join(Digest::of(&manifest_bytes).hex());
        write(&manifest_file, &manifest_bytes)?;
        let mut downloaded = 0;
        let fetches = futures_util::stream::iter(blobs.iter().cloned())
            .map(|(blob, size)| {
                let (client, here, blob_dir) = (&client, &here, &blob_dir);
                let verify = &verify;
                async move {
                    let target = blob_dir.join(Digest::parse(&blob)?.hex());
                    if store.link_blob(&blob, &target) {
                        return Ok(0);
                    }
                    self.fetch(client, here, &blob, size, &target, verify)
                        .await
                        .map(|()| size)
                }
            })
            .buffer_unordered(CONNECTIONS);
        let sizes: Vec<u64> = fetches.try_collect().await?;
        downloaded += sizes.iter().sum::<u64>();
        let network = started.elapsed();
        std::fs::write(
            staging.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .map_err(io("write oci-layout"))?;
        // The store reads image manifests; a Docker one has the same fields.
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest_bytes.len()}],
        });
        write(
            &staging.path().join("index.json"),
            index.to_string().as_bytes(),
        )?;
        let imported_at = std::time::Instant::now();
        let mut summary = store.import_pulled(staging.path(), local)?;
        Ok((
            summary.remove(0),
            Timings {
                network,
                import: imported_at.elapsed(),
                downloaded,
            },
        ))
    }

    /// Download one blob into `target`, checking size and digest as it streams.
    async fn fetch(
        &self,
        client: &Client,
        here: &oci_client::Reference,
        digest: &str,
        size: u64,
        target: &Path,
        verify: &(dyn Fn(&'static str, &str, String) -> RegistryError + Sync),
    ) -> Result<(), RegistryError> {
        let id = self.progress.start(digest, size);
        let result = async {
            let mut stream = client
                .pull_blob_stream(here, digest)
                .await
                .map_err(|e| verify("blob", digest, e.to_string()))?;
            let partial = target.with_extension("partial");
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(io("create a blob file"))?;
            let mut hasher = Sha256::new();
            let mut total: u64 = 0;
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| verify("blob", digest, format!("download cut: {e}")))?;
                total += chunk.len() as u64;
                if total > size {
                    return Err(verify(
                        "blob",
                        digest,
                        format!("more than the {size} bytes its descriptor says"),
                    ));
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(io("write a blob file"))?;
                self.progress.advance(id, chunk.len() as u64);
            }
            if total != size {
                return Err(verify(
                    "blob",
                    digest,
                    format!("{total} bytes, its descriptor says {size}"),
                ));
            }
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != digest {
                return Err(verify(
                    "blob",
                    digest,
                    format!("its content hashes to {actual}"),
                ));
            }
            file.sync_all().await.map_err(io("sync a blob file"))?;
            tokio::fs::rename(&partial, target)
                .await
                .map_err(io("move a blob file"))?;
            Ok(())
        }
        .await;
        self.progress.finish(id, result.is_ok());
        result
    }

    /// Push the stored image `source` to the registry as `target` (its
    /// name when `None`). Returns the manifest's digest.
    pub fn push(
        &self,
        store: &Store,
        source: &str,
        target: Option<&str>,
    ) -> Result<String, RegistryError> {
        let runtime = runtime()?;
        runtime.block_on(self.push_async(store, source, target))
    }

    async fn push_async(
        &self,
        store: &Store,
        source: &str,
        target: Option<&str>,
    ) -> Result<String, RegistryError> {
        let image = store.resolve(source)?;
        let target_text = target.map_or_else(|| image.reference.to_string(), str::to_string);
        let (remote, _) = normalise(&target_text)?;
        let shown = remote.whole();
        let endpoint = Endpoint {
            host: remote.registry().to_string(),
            plain_http: self.settings.plain_http(remote.registry()),
            mirror: false,
        };
        let here = oci_client::Reference::with_tag(
            endpoint.host.clone(),
            remote.repository().into(),
            remote.tag().unwrap_or("latest").into(),
        );
        let client = self.client(&endpoint)?;
        let auth = Self::auth(&endpoint.host)?;
        let fail = |e| remote_error("push", &shown, &endpoint.host, e);
        client
            .auth(&here, &auth, RegistryOperation::Push)
            .await
            .map_err(fail)?;
        let manifest = store.blob_bytes(&image.digest)?;
        let document: Value = serde_json::from_slice(&manifest)
            .map_err(|e| RegistryError::Config(format!("stored manifest {}: {e}", image.digest)))?;
        let blobs: Vec<String> = std::iter::once(&document["config"])
            .chain(document["layers"].as_array().into_iter().flatten())
            .filter_map(|d| d["digest"].as_str().map(str::to_string))
            .collect();
        for blob in blobs {
            if client.blob_exists(&here, &blob).await.map_err(fail)? {
                continue;
            }
            let data = store.blob_bytes(&blob)?;
            let id = self.progress.start(&blob, data.len() as u64);
            let size = data.len() as u64;
            let pushed = client.push_blob(&here, data, &blob).await;
            self.progress.advance(id, size);
            self.progress.finish(id, pushed.is_ok());
            pushed.map_err(fail)?;
        }
        let media_type = document["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let content_type = media_type
            .parse()
            .map_err(|_| RegistryError::Config(format!("media type {media_type:?}")))?;
        client
            .push_manifest_raw(&here, manifest, content_type)
            .await
            .map_err(fail)?;
        Ok(image.digest)
    }

    /// Check a credential against `host` before it is stored (`podctl login`).
    pub fn check_login(&self, host: &str, credential: &Credential) -> Result<(), RegistryError> {
        let runtime = runtime()?;
        runtime.block_on(async {
            let endpoint = Endpoint {
                host: host.to_string(),
                plain_http: self.settings.plain_http(host),
                mirror: false,
            };
            let probe = oci_client::Reference::with_tag(
                host.into(),
                "podctl/login-check".into(),
                "latest".into(),
            );
            let client = self.client(&endpoint)?;
            let auth =
                RegistryAuth::Basic(credential.username.clone(), credential.password.clone());
            let fail = |e| remote_error("log in to", host, host, e);
            client
                .auth(&probe, &auth, RegistryOperation::Pull)
                .await
                .map_err(fail)?;
            // A repository that is not there: 404 with good credentials, 401 without.
            match client.pull_manifest_raw(&probe, &auth, &ACCEPTED).await {
                Ok(_) => Ok(()),
                Err(e) => match remote_error("log in to", host, host, e) {
                    unauthorized @ RegistryError::Unauthorized { .. } => Err(unauthorized),
                    RegistryError::Remote { ref cause, .. } if cause.contains("cannot reach") => {
                        Err(RegistryError::Remote {
                            action: "log in to",
                            reference: host.into(),
                            endpoint: host.into(),
                            cause: cause.clone(),
                        })
                    }
                    _ => Ok(()),
                },
            }
        })
    }
}

/// What to do for a container's image before its pod is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullDecision {
    /// Use the image in the store.
    UseLocal,
    /// Pull it (again) from its registry.
    Pull,
    /// Refused: the policy is `Never` and the store does not hold it.
    NeverPull,
}

/// The kubelet's `imagePullPolicy` rule over `image` as the manifest writes
/// it, and whether the store holds it. A short name (`busybox`, no
/// registry) that the store holds is a local image, as podman resolves
/// short names: it is used as it is, never pulled.
pub fn pull_decision(policy: &str, image: &str, present: bool) -> PullDecision {
    let local = present && !Reference::names_registry(image);
    match policy {
        _ if local => PullDecision::UseLocal,
        "Never" if present => PullDecision::UseLocal,
        "Never" => PullDecision::NeverPull,
        "IfNotPresent" if present => PullDecision::UseLocal,
        _ => PullDecision::Pull,
    }
}

/// Pick this machine's image from an index; on failure, the platforms it has.
fn pick_platform(index: &Value) -> Result<String, String> {
    let here = Platform::host();
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let platform = |m: &Value| {
        format!(
            "{}/{}",
            m["platform"]["os"].as_str().unwrap_or("?"),
            m["platform"]["architecture"].as_str().unwrap_or("?")
        )
    };
    manifests
        .iter()
        .find(|m| {
            let field = |name: &str| m["platform"][name].as_str().unwrap_or_default();
            here.matches(field("os"), field("architecture"))
        })
        .and_then(|m| m["digest"].as_str().map(str::to_string))
        .ok_or_else(|| {
            let all: Vec<String> = manifests.iter().map(platform).collect();
            if all.is_empty() {
                "nothing".into()
            } else {
                all.join(", ")
            }
        })
}

/// An oci-client error said for people, sorted by what the user can do.
fn remote_error(
    action: &'static str,
    reference: &str,
    endpoint: &str,
    error: oci_client::errors::OciDistributionError,
) -> RegistryError {
    use oci_client::errors::OciDistributionError as E;
    let cause = crate::supervisor::chain(&error);
    let lower = cause.to_lowercase();
    let unauthorized = matches!(
        error,
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_)
    ) || lower.contains("unauthorized")
        || lower.contains("denied")
        || lower.contains("code: 401")
        || lower.contains("code: 403");
    if unauthorized {
        return RegistryError::Unauthorized {
            action,
            reference: reference.into(),
            endpoint: endpoint.into(),
            cause,
            file: config::auth_file().display().to_string(),
        };
    }
    let cause = match &error {
        E::RequestError(e) if e.is_connect() || e.is_timeout() => {
            format!("cannot reach the registry ({cause})")
        }
        E::ImageManifestNotFoundError(_) => format!("no such repository or tag ({cause})"),
        _ if lower.contains("manifest unknown")
            || lower.contains("name unknown")
            || lower.contains("repository name not known") =>
        {
            format!("no such repository or tag ({cause})")
        }
        _ => cause,
    };
    RegistryError::Remote {
        action,
        reference: reference.into(),
        endpoint: endpoint.into(),
        cause,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, RegistryError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("start the registry client"))
}

fn io(context: &'static str) -> impl Fn(std::io::Error) -> RegistryError {
    move |source| RegistryError::Io {
        context: context.into(),
        source,
    }
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<(), RegistryError> {
    std::fs::write(path, bytes).map_err(io("write a staged file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_policy_table() {
        use PullDecision::*;
        let table = [
            ("Always", "127.0.0.1:5000/app:v1", true, Pull),
            ("Always", "127.0.0.1:5000/app:v1", false, Pull),
            ("IfNotPresent", "registry.k8s.io/pause:3.9", true, UseLocal),
            ("IfNotPresent", "registry.k8s.io/pause:3.9", false, Pull),
            ("Never", "registry.k8s.io/pause:3.9", true, UseLocal),
            ("Never", "registry.k8s.io/pause:3.9", false, NeverPull),
            ("Always", "busybox", true, UseLocal),
            ("Always", "busybox", false, Pull),
            ("Never", "busybox", false, NeverPull),
        ];
        for (policy, image, present, decision) in table {
            assert_eq!(
                pull_decision(policy, image, present),
                decision,
                "{policy} {image} {present}"
            );
        }
    }

    #[test]
    fn references_are_normalised_as_docker_does() {
        let (remote, local) = normalise("busybox").unwrap();
        assert_eq!(remote.whole(), "docker.io/library/busybox:latest");
        assert_eq!(local.to_string(), "busybox:latest");
        let (remote, local) = normalise("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(remote.registry(), "127.0.0.1:5000");
        assert_eq!(local.to_string(), "127.0.0.1:5000/team/app:v1");
        let digest = format!("sha256:{}", "b".repeat(64));
        let (remote, local) = normalise(&format!("registry.k8s.io/pause@{digest}")).unwrap();
        assert_eq!(remote.digest(), Some(digest.as_str()));
        assert_eq!(local.to_string(), format!("registry.k8s.io/pause@{digest}"));
        assert!(normalise("UPPER/case").is_err());
    }

    #[test]
    fn an_index_gives_this_machines_image_or_names_what_it_has() {
        let here = Platform::host();
        let (os, arch) = (here.os, here.architecture);
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:1", "platform": {"os": "linux", "architecture": "s390x"}},
            {"digest": "sha256:2", "platform": {"os": os, "architecture": arch}},
        ]});
        assert_eq!(pick_platform(&index).unwrap(), "sha256:2");
        let other = serde_json::json!({"manifests": [
            {"digest": "sha256:1", "platform": {"os": "linux", "architecture": "s390x"}},
            {"digest": "sha256:3", "platform": {"os": "windows", "architecture": "amd64"}},
        ]});
        assert_eq!(
            pick_platform(&other).unwrap_err(),
            "linux/s390x, windows/amd64"
        );
    }
}
