//! Image references as users write them: `busybox`, `busybox:1.35`,
//! `example.com/team/app:v2`. A missing tag means `latest`.

use std::fmt;

/// A parsed `NAME[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

impl Reference {
    /// Parse `NAME[:TAG]`; the tag is after the last `:` that follows the last `/`
    /// (so `host:5000/app` has no tag). Docker Hub's `docker.io/library/` prefix is dropped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
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
        let name_ok = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
        let tag_ok = tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return Err(format!(
                "image name {name:?} may only hold lower-case letters, digits, '.', '_', '-' and '/'"
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
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
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
        assert!(Reference::parse("busybox:").is_err());
        assert!(Reference::parse(":tag").is_err());
    }
}
