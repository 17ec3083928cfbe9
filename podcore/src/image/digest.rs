//! Content digests: `sha256:` and 64 lower-case hex digits, checked once
//! when a digest is read, so a blob's path is never built from a bad one.

use std::fmt;

use sha2::{Digest as _, Sha256};

use super::{Error, Result};

/// A sha256 content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Check `text` (`sha256:<hex>`): another algorithm is unsupported, a
    /// malformed hex part is a mismatch.
    pub fn parse(text: &str) -> Result<Self> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| Error::Unsupported {
                what: "digest algorithm",
                detail: format!("{text}; only sha256 is supported"),
            })?;
        if !is_sha256_hex(hex) {
            return Err(Error::BlobMismatch {
                digest: text.to_string(),
                detail: "not a valid sha256 digest".into(),
            });
        }
        Ok(Self {
            hex: hex.to_string(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::finish(Sha256::new_with_prefix(bytes))
    }

    /// The digest of what `hasher` was fed.
    pub fn finish(hasher: Sha256) -> Self {
        Self {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits: a blob's file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as `docker images` shows an id.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

/// Whether `hex` is 64 lower-case hex digits.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_sha256_digests() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let digest = Digest::parse(&format!("sha256:{empty}")).unwrap();
        assert_eq!(digest, Digest::of(b""));
        assert_eq!(digest.hex(), empty);
        assert_eq!(digest.short(), "e3b0c44298fc");
        assert_eq!(digest.to_string(), format!("sha256:{empty}"));
        assert!(matches!(
            Digest::parse(&format!("sha512:{empty}")),
            Err(Error::Unsupported { .. })
        ));
        for bad in [
            "sha256:../../etc/passwd".to_string(),
            format!("sha256:{}", empty.to_uppercase()),
            format!("sha256:{}", &empty[1..]),
        ] {
            assert!(
                matches!(Digest::parse(&bad), Err(Error::BlobMismatch { .. })),
                "{bad}"
            );
        }
    }
}
