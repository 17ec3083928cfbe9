//! Image references as users write them: `busybox`, `busybox:1.35`,
//! `example.com/team/app:v2`, `app@sha256:...`. A missing tag means `latest`.

use std::fmt;

/// A parsed `NAME[:TAG]` or `NAME@DIGEST`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Reference {
    pub name: String,
    /// The tag; empty when the reference is by digest.
    pub tag: String,
    /// `sha256:<hex>` of the manifest, for a reference by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Reference {
    /// Parse `NAME[:TAG][@DIGEST]`; the tag is after the last `:` that follows
    /// the last `/` (so `host:5000/app` has no tag); a digest wins over a tag.
    /// Docker Hub's `docker.io/library/` prefix is dropped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((named, digest)) = text.split_once('@') {
            let hex = digest.strip_prefix("sha256:").unwrap_or("");
            if !super::digest::is_sha256_hex(hex) {
                return Err(format!(
                    "image digest {digest:?} is not sha256: followed by 64 lower-case hex digits"
                ));
            }
            let named = Self::parse(named)?;
            return Ok(Self {
                name: named.name,
                tag: String::new(),
                digest: Some(digest.to_string()),
            });
        }
        let (name, tag) = match text.rfind(':') {
            Some(i) if !text[i..].contains('/') => (&text[..i], &text[i + 1..]),
            _ => (text, "latest"),
        };
        let name = name
            .strip_prefix("docker.io/library/")
            .or_else(|| name.strip_prefix("docker.io/"))
            .unwrap_or(name);
        if name.is_empty() {
            return Err(format!("image reference {text:?} has no name"));
        }
        if tag.is_empty() {
            return Err(format!("image reference {text:?} has an empty tag"));
        }
        let name_ok = valid_name(name);
        let tag_ok = tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return Err(format!(
                "image name {name:?} is not a valid name: [HOST[:PORT]/]PATH, where each \
                 '/'-separated part of PATH is lower-case letters and digits joined by \
                 '.', '_', '__' or dashes (no '..', no empty part)"
            ));
        }
        if !tag_ok {
            return Err(format!(
                "image tag {tag:?} may only hold letters, digits, '.', '_' and '-' (at most 128)"
            ));
        }
        Ok(Self {
            name: name.to_string(),
            tag: tag.to_string(),
            digest: None,
        })
    }

    /// Whether the name, as written, names a registry (`host.name/…`,
    /// `host:port/…`, `localhost/…`); a short name like `busybox` does not.
    pub fn names_registry(text: &str) -> bool {
        text.split_once('/').is_some_and(|(first, _)| {
            first.contains('.') || first.contains(':') || first == "localhost"
        })
    }
}

/// The distribution spec's grammar for a repository name: an optional
/// registry host (with a port) and path components of lower-case letters and
/// digits joined by one `.`, one or two `_`, or any number of `-`.
fn valid_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let (host, path) = match parts.split_first() {
        Some((first, rest))
            if !rest.is_empty()
                && (first.contains('.') || first.contains(':') || *first == "localhost") =>
        {
            (Some(*first), rest)
        }
        _ => (None, &parts[..]),
    };
    let host_ok = host.is_none_or(|host| {
        let (hostname, port) = host.split_once(':').unwrap_or((host, "0"));
        !hostname.is_empty()
            && hostname.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
    });
    host_ok && !path.is_empty() && path.iter().all(|part| valid_component(part))
}

fn valid_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators between letter-and-digit runs: ".", "_", "__" or "-"+.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &part[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.digest {
            Some(digest) => write!(f, "{}@{digest}", self.name),
            None => write!(f, "{}:{}", self.name, self.tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reference;

    fn parse(text: &str) -> (String, String) {
        let r = Reference::parse(text).unwrap();
        (r.name, r.tag)
    }

    #[test]
    fn defaults_and_registries() {
        assert_eq!(parse("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(parse("busybox:1.35"), ("busybox".into(), "1.35".into()));
        assert_eq!(
            parse("docker.io/library/busybox:1"),
            ("busybox".into(), "1".into())
        );
        assert_eq!(
            parse("host:5000/team/app"),
            ("host:5000/team/app".into(), "latest".into())
        );
        assert_eq!(
            parse("host:5000/team/app:v2"),
            ("host:5000/team/app".into(), "v2".into())
        );
        assert!(Reference::parse("Busybox").is_err());
        for bad in [
            "../../x",
            "a/../b",
            "./x",
            "/x",
            "a//b",
            "a..b",
            "-a",
            "a-",
            "x/.hidden",
            "host:port/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "a.b_c__d--e",
            "localhost/x",
            "127.0.0.1:5000/team/app",
            "registry.k8s.io/pause",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good}");
        }
        assert!(Reference::parse("busybox:").is_err());
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("host:5000/app:v1@{digest}")).unwrap();
        assert_eq!(pinned.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(pinned.to_string(), format!("host:5000/app@{digest}"));
        assert!(Reference::parse("app@sha256:abc").is_err());
        assert!(Reference::names_registry("127.0.0.1:5000/x"));
        assert!(Reference::names_registry("registry.k8s.io/pause:3.9"));
        assert!(!Reference::names_registry("library/busybox"));
        assert!(!Reference::names_registry("busybox"));
        assert!(Reference::parse(":tag").is_err());
    }
}
