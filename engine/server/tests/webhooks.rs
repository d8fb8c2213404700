//! Webhook delivery (OUT-13) over https:// to a receiver whose certificate
//! is issued by a private CA: delivered when the CA is trusted, refused when
//! it is not; and no delivery to an internal address unless allowed.

#![allow(deprecated)] // rustls' ring provider, as the server uses it

use std::sync::Arc;

use certflow_server::webhook::{WebhookConfig, post_json};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A private CA and a certificate for `localhost` it issued.
struct Pki {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "certflow test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    Pki { ca_pem: ca.pem(), server }
}

/// An https receiver on loopback answering 204 to each POST; the requests
/// it got come out of the channel.
async fn receiver(server: rustls::ServerConfig) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            // A client that distrusts the certificate ends the handshake.
            let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = tls.read(&mut buf).await.unwrap_or(0);
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                    head.lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .is_some_and(|len| body.len() >= len)
                });
                if n == 0 || complete {
                    break;
                }
            }
            let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            let _ = tls.shutdown().await;
            let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
        }
    });
    (port, rx)
}

#[tokio::test]
async fn an_https_webhook_is_delivered_to_a_receiver_the_server_trusts() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("private-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let (port, mut requests) = receiver(pki.server).await;
    let url = format!("https://localhost:{port}/certflow/hook?from=test");
    let event = json!({"status": "EW", "status_zh": "待企业确认"});

    let trusting = WebhookConfig { extra_roots: Some(ca_file), allow_private: true };
    post_json(&url, &event, &trusting).await.expect("delivered");
    let request = requests.recv().await.unwrap();
    assert!(request.starts_with("POST /certflow/hook?from=test HTTP/1.1\r\n"), "{request}");
    assert!(request.contains(&format!("\r\nHost: localhost:{port}\r\n")), "{request}");
    assert!(request.ends_with(&event.to_string()), "{request}");

    // Without the private CA the receiver's certificate is not trusted.
    let public_roots_only = WebhookConfig { extra_roots: None, allow_private: true };
    let refused = post_json(&url, &event, &public_roots_only).await.expect_err("not trusted");
    assert!(refused.contains("TLS with localhost") && refused.contains("certificate"), "{refused}");

    // And by default an address on the server's own host is not reached.
    let default = post_json(&url, &event, &WebhookConfig::default()).await.expect_err("internal");
    assert!(default.contains("internal address"), "{default}");
}
