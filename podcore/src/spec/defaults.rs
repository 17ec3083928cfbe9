//! What Kubernetes' API server fills in when a manifest leaves a field out.

/// `terminationGracePeriodSeconds`.
pub const GRACE_SECONDS: u64 = 30;
/// A probe's `initialDelaySeconds`.
pub const PROBE_INITIAL_DELAY_SECONDS: i32 = 0;
/// A probe's `periodSeconds`.
pub const PROBE_PERIOD_SECONDS: i32 = 10;
/// A probe's `timeoutSeconds`.
pub const PROBE_TIMEOUT_SECONDS: i32 = 1;
/// A probe's `successThreshold`.
pub const PROBE_SUCCESS_THRESHOLD: i32 = 1;
/// A probe's `failureThreshold`.
pub const PROBE_FAILURE_THRESHOLD: i32 = 3;
/// A pod's namespace.
pub const NAMESPACE: &str = "default";
/// An `httpGet` probe's path.
pub const HTTP_PATH: &str = "/";
/// A container's `terminationMessagePath`.
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// The cluster domain in a pod's FQDN.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// A container port's protocol.
pub const PROTOCOL: &str = "TCP";

/// `imagePullPolicy`: Always for `latest` or no tag (and no digest), else IfNotPresent.
pub fn image_pull_policy(image: &str) -> &'static str {
    let reference = crate::image::Reference::parse(image);
    let latest = reference.is_ok_and(|r| r.digest.is_none() && r.tag == "latest");
    if latest { "Always" } else { "IfNotPresent" }
}

/// `hostname`: the pod's name, cut to a DNS label's 63 characters.
pub fn hostname(pod_name: &str) -> String {
    pod_name
        .chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_by_tag() {
        assert_eq!(image_pull_policy("busybox"), "Always");
        assert_eq!(image_pull_policy("busybox:latest"), "Always");
        assert_eq!(image_pull_policy("busybox:1.36"), "IfNotPresent");
        let pinned = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(image_pull_policy(&pinned), "IfNotPresent");
    }

    #[test]
    fn hostname_is_a_label() {
        let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        assert_eq!(hostname(&long), "a".repeat(62));
        assert_eq!(hostname("web"), "web");
    }
}
