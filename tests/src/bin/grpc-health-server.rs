//! A gRPC health checking server for the end-to-end tests of `grpc`
//! probes: `grpc-health-server PORT` answers `grpc.health.v1.Health/Check`
//! on 127.0.0.1:PORT with SERVING, or NOT_SERVING for the service `down`.
//! The tests run it in a pod's network namespace (it needs no image).

use bytes::Bytes;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: grpc-health-server PORT");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("listen");
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    let mut body = request.into_body();
                    let mut data = Vec::new();
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        data.extend_from_slice(&chunk);
                    }
                    // The request: [flag, length x4, 0x0a, len, service...].
                    let service = data
                        .get(7..)
                        .map(|s| String::from_utf8_lossy(s).into_owned());
                    let status: u8 = if service.as_deref() == Some("down") {
                        2
                    } else {
                        1
                    };
                    let response = http::Response::builder()
                        .status(200)
                        .header("content-type", "application/grpc")
                        .body(())
                        .expect("a response");
                    let Ok(mut send) = respond.send_response(response, false) else {
                        continue;
                    };
                    let message = [0u8, 0, 0, 0, 2, 0x08, status];
                    let _ = send.send_data(Bytes::copy_from_slice(&message), false);
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                    let _ = send.send_trailers(trailers);
                }
            });
        }
    });
}
