//! Probes (`livenessProbe`, `readinessProbe`, `startupProbe`): one action,
//! ports by number or by the container's port names, Kubernetes' defaults.

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::defaults;
use super::field::Field;
use super::model::{Probe, ProbeAction};

/// The probe `field` of container `c` (`at` is the container).
pub(super) fn probe(c: &k8s::Container, field: &str, at: &Field) -> Option<Probe> {
    let p = match field {
        "livenessProbe" => c.liveness_probe.as_ref(),
        "readinessProbe" => c.readiness_probe.as_ref(),
        _ => c.startup_probe.as_ref(),
    }?;
    let at = at.at(field);
    let action = match (&p.exec, &p.tcp_socket, &p.http_get, &p.grpc) {
        (Some(exec), None, None, None) => {
            ProbeAction::Exec(exec.command.clone().unwrap_or_default())
        }
        (None, Some(tcp), None, None) => ProbeAction::TcpSocket {
            port: port(c, &tcp.port, &at.at("tcpSocket.port")),
        },
        (None, None, None, Some(grpc)) => {
            let number = IntOrString::Int(grpc.port);
            ProbeAction::Grpc {
                port: port(c, &number, &at.at("grpc.port")),
                service: grpc.service.clone().unwrap_or_default(),
            }
        }
        (None, None, Some(http), None) => {
            if http.scheme.as_deref().is_some_and(|s| s != "HTTP") {
                at.at("httpGet.scheme").error("only HTTP is supported");
            }
            ProbeAction::HttpGet {
                port: port(c, &http.port, &at.at("httpGet.port")),
                path: http
                    .path
                    .clone()
                    .unwrap_or_else(|| defaults::HTTP_PATH.into()),
            }
        }
        _ => {
            at.error("set exactly one of exec, tcpSocket, httpGet and grpc");
            return None;
        }
    };
    let seconds = |v: Option<i32>, default: i32, name: &str| -> u64 {
        let v = v.unwrap_or(default);
        if v < 0 {
            at.at(name).error(format!("{v} is negative"));
        }
        v.max(0) as u64
    };
    let probe = Probe {
        action,
        initial_delay_seconds: seconds(
            p.initial_delay_seconds,
            defaults::PROBE_INITIAL_DELAY_SECONDS,
            "initialDelaySeconds",
        ),
        period_seconds: seconds(
            p.period_seconds,
            defaults::PROBE_PERIOD_SECONDS,
            "periodSeconds",
        )
        .max(1),
        timeout_seconds: seconds(
            p.timeout_seconds,
            defaults::PROBE_TIMEOUT_SECONDS,
            "timeoutSeconds",
        )
        .max(1),
        success_threshold: seconds(
            p.success_threshold,
            defaults::PROBE_SUCCESS_THRESHOLD,
            "successThreshold",
        )
        .max(1) as u32,
        failure_threshold: seconds(
            p.failure_threshold,
            defaults::PROBE_FAILURE_THRESHOLD,
            "failureThreshold",
        )
        .max(1) as u32,
    };
    if field != "readinessProbe" && probe.success_threshold != 1 {
        at.at("successThreshold")
            .error("must be 1 for liveness and startup probes");
    }
    Some(probe)
}

/// A probe's port: a number, or the name of one of the container's ports.
pub(super) fn port(c: &k8s::Container, port: &IntOrString, at: &Field) -> u16 {
    let number = match port {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .map(|cp| cp.container_port),
    };
    match number
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
    {
        Some(n) => n,
        None => {
            at.error(format!(
                "{port:?} is not a port number or a named port of the container"
            ));
            0
        }
    }
}
