//! Kubernetes' name rules (DNS-1123) for pods, namespaces, containers and volumes.

/// DNS-1123 label: at most 63 of `a-z0-9-`, starting and ending alphanumeric.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// DNS-1123 subdomain: at most 253, dot-separated labels.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        for good in ["a", "web-1", "0abc", &"x".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_dns_subdomain("two-containers.pod"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain("Bad_Name"));
    }
}
