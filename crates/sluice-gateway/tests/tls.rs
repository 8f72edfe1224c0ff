//! Providers over TLS: rustls with a private CA from `tls.ca_file`, HTTP/2 negotiated by
//! ALPN and multiplexed on one pooled connection.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

/// A CA (returned as PEM) and a certificate it signed for 127.0.0.1, with its key.
fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Sluice test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    (ca_cert.pem(), leaf.der().clone(), key)
}

/// An OpenAI-style upstream behind TLS that offers h2 and http/1.1 by ALPN and records
/// the HTTP version of each request and the connections it accepted.
struct TlsUpstream {
    addr: SocketAddr,
    versions: Arc<Mutex<Vec<Version>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_tls_upstream(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> TlsUpstream {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server cert");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let versions = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (seen, accepted) = (versions.clone(), connections.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    seen.lock().expect("lock").push(request.version());
                    async move {
                        let body = r#"{"id":"chatcmpl-tls","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"over tls"},"finish_reason":"stop"}]}"#;
                        let mut response =
                            Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                        response
                            .headers_mut()
                            .insert("content-type", "application/json".parse().expect("header"));
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream {
        addr,
        versions,
        connections,
        task,
    }
}

fn write_ca(pem: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "sluice-test-ca-{}-{}.pem",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::write(&path, pem).expect("write ca");
    path.display().to_string()
}

fn tls_provider_yaml(addr: SocketAddr, ca_file: Option<&str>) -> String {
    let mut yaml = format!(
        "providers:\n  secure:\n    kind: openai-compatible\n    base_url: https://{addr}/v1\n    api_key: sk-tls\n"
    );
    if let Some(path) = ca_file {
        yaml.push_str(&format!("    tls:\n      ca_file: {path}\n"));
    }
    yaml
}

#[tokio::test]
async fn private_ca_https_provider_is_reached_over_http2_on_one_connection() {
    let (ca_pem, cert, key) = certificates();
    let upstream = start_tls_upstream(cert, key).await;
    let ca_file = write_ca(&ca_pem);
    let gateway = TestGateway::start(&tls_provider_yaml(upstream.addr, Some(&ca_file))).await;
    let url = gateway.url("/v1/chat/completions");

    let first = post(&url, chat_body("secure/m", "hi")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["choices"][0]["message"]["content"], "over tls");
    // Then 20 at once: HTTP/2 multiplexes them on the pooled connection.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            post(&url, chat_body("secure/m", "hi")).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::OK);
    }
    let versions = upstream.versions.lock().expect("lock").clone();
    assert_eq!(versions.len(), 21);
    assert!(
        versions.iter().all(|v| *v == Version::HTTP_2),
        "{versions:?}"
    );
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
    let _ = std::fs::remove_file(ca_file);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let (_, cert, key) = certificates();
    let upstream = start_tls_upstream(cert, key).await;
    let gateway = TestGateway::start(&tls_provider_yaml(upstream.addr, None)).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("secure/m", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(answer.text().contains("certificate"), "{}", answer.text());
    assert!(upstream.versions.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn an_unreadable_ca_file_stops_the_gateway_at_start() {
    let yaml = tls_provider_yaml(
        "127.0.0.1:1".parse().expect("addr"),
        Some("/nonexistent/ca.pem"),
    );
    let config = sluice_core::Config::from_yaml(&yaml, "t.yaml", |_| None).expect("valid yaml");
    let err = match sluice_gateway::Gateway::from_config(&config).await {
        Err(err) => err.to_string(),
        Ok(_) => panic!("gateway started without its CA file"),
    };
    assert!(err.contains("secure") && err.contains("ca_file"), "{err}");
}
