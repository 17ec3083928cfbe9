//! The platform images are picked for: the running machine's, in the OCI
//! names (`linux/amd64`, `linux/arm64`), for registry indexes and nested
//! indexes in imported layouts alike.

/// An OS and architecture as OCI image indexes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub os: &'static str,
    pub architecture: &'static str,
}

impl Platform {
    /// This machine's platform.
    pub fn host() -> Self {
        Self {
            os: "linux",
            architecture: oci_architecture(std::env::consts::ARCH),
        }
    }

    /// Whether an index entry for `os`/`architecture` runs here.
    pub fn matches(&self, os: &str, architecture: &str) -> bool {
        os == self.os && architecture == self.architecture
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// Rust's name of an architecture in OCI's (Go's) words.
fn oci_architecture(rust: &'static str) -> &'static str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_in_oci_words() {
        assert_eq!(oci_architecture("x86_64"), "amd64");
        assert_eq!(oci_architecture("aarch64"), "arm64");
        assert_eq!(oci_architecture("riscv64"), "riscv64");
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert_eq!(host.architecture, oci_architecture(std::env::consts::ARCH));
        assert!(host.matches("linux", host.architecture));
        assert!(!host.matches("windows", host.architecture));
    }
}
