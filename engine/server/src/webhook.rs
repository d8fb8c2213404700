//! Delivering a webhook: one HTTP/1.1 POST of JSON to an `http://` or
//! `https://` address, answered 2xx or failed with the reason.
//!
//! https:// is checked against Mozilla's root certificates, plus those of a
//! PEM file for a receiver with a private CA. The address a name resolves
//! to is checked when connecting, not when subscribing (a name can change
//! what it points to): loopback, private, link-local and other internal
//! addresses are refused unless the server allows them, so that an
//! enterprise cannot make the server reach into its own network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;

/// The longest a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How webhooks are delivered.
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    /// Root certificates (PEM) trusted for https:// besides Mozilla's.
    pub extra_roots: Option<PathBuf>,
    /// Deliver to loopback and private addresses too (a receiver on the
    /// same host or network; off by default).
    pub allow_private: bool,
}

/// Where a webhook goes.
#[derive(Debug, PartialEq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// `host[:port]` as written, for the Host header.
    authority: String,
    path: String,
}

/// Whether `url` is an address a webhook can be delivered to.
pub fn valid_url(url: &str) -> bool {
    parse(url).is_ok()
}

fn parse(url: &str) -> Result<Target, String> {
    let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return Err("a webhook address starts with http:// or https://".into()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
    let bad_path_char = |c: char| c.is_whitespace() || c.is_control();
    if authority.is_empty() || !authority.chars().all(host_char) || path.contains(bad_path_char) {
        return Err(format!("`{url}` is not a webhook address"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        // [v6]:port
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or_else(|| format!("`{url}`: unclosed ["))?;
            let port = after.strip_prefix(':').map(str::parse).transpose().map_err(|_| format!("`{url}`: bad port"))?;
            (host.to_owned(), port.unwrap_or(default_port))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().map_err(|_| format!("`{url}`: bad port"))?),
            None => (authority.to_owned(), default_port),
        },
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(Target { tls, host, port, authority: authority.to_owned(), path })
}

/// Addresses inside the server's own host or network, or not meant to be
/// reached at all; IPv6 forms that carry an IPv4 address are judged by it.
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            a == 0 // "this network"
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a >= 240 // reserved
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6.to_ipv4_mapped().is_some_and(|v4| internal(IpAddr::V4(v4)))
                // IPv4-compatible ::a.b.c.d
                || (s[..6].iter().all(|&x| x == 0) && internal(embedded(s[6], s[7])))
                // NAT64 (64:ff9b::/96, 64:ff9b:1::/48) reaches IPv4 space
                || (s[0] == 0x64 && s[1] == 0xff9b && internal(embedded(s[6], s[7])))
                // 6to4 2002:a.b.c.d::/48
                || (s[0] == 0x2002 && internal(embedded(s[1], s[2])))
        }
    }
}

/// Checks what deliveries will need: the extra root certificates readable.
pub fn check(config: &WebhookConfig) -> Result<(), String> {
    tls_config(config).map(drop)
}

/// POSTs `body` as JSON to `url`; `Ok` on a 2xx answer.
pub async fn post_json(url: &str, body: &Value, config: &WebhookConfig) -> Result<(), String> {
    let target = parse(url)?;
    let body = body.to_string();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nUser-Agent: certflow\r\nConnection: close\r\n\r\n{body}",
        target.path,
        target.authority,
        body.len()
    );
    let delivery = async {
        let addresses = resolve(&target, config).await?;
        let tcp = tokio::net::TcpStream::connect(addresses.as_slice())
            .await
            .map_err(|e| format!("connecting {}: {e}", target.authority))?;
        if !target.tls {
            return exchange(tcp, &request).await;
        }
        let connector = tokio_rustls::TlsConnector::from(tls_config(config)?);
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("`{}` cannot be checked against a certificate: {e}", target.host))?;
        let tls = connector.connect(name, tcp).await.map_err(|e| format!("TLS with {}: {e}", target.host))?;
        exchange(tls, &request).await
    };
    tokio::time::timeout(TIMEOUT, delivery).await.map_err(|_| "the receiver did not answer in time".to_owned())?
}

/// The addresses of the target's host this server may deliver to.
async fn resolve(target: &Target, config: &WebhookConfig) -> Result<Vec<SocketAddr>, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("resolving {}: {e}", target.host))?
        .collect();
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addresses.into_iter().partition(|a| config.allow_private || !internal(a.ip()));
    match (allowed.is_empty(), refused.first()) {
        (false, _) => Ok(allowed),
        (true, Some(address)) => Err(format!(
            "{} is an internal address ({}): not delivered (a server allows this with --allow-private-webhooks)",
            target.host,
            address.ip()
        )),
        (true, None) => Err(format!("{} resolves to no address", target.host)),
    }
}

fn tls_config(config: &WebhookConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = &config.extra_roots {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certificates =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        for certificate in certificates {
            let certificate = certificate.map_err(|e| format!("reading {}: {e}", path.display()))?;
            roots.add(certificate).map_err(|e| format!("a root certificate of {}: {e}", path.display()))?;
        }
    }
    // ring, not aws-lc: the build needs no cmake. It lacks the post-quantum
    // key exchange (hence deprecated), which a webhook's POST can do without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Sends the request and reads the status line of the answer.
async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> Result<(), String> {
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("sending: {e}"))?;
    stream.flush().await.map_err(|e| format!("sending: {e}"))?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await.map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
    match line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()) {
        Some(code) if (200..300).contains(&code) => Ok(()),
        Some(code) => Err(format!("the receiver answered {code}")),
        None => Err(format!("not an HTTP answer: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_with_their_defaults() {
        let t = parse("https://hooks.example.com/certflow?x=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "hooks.example.com", 443, "/certflow?x=1")
        );
        let t = parse("http://[::1]:8080").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port, t.path.as_str()), (false, "::1", 8080, "/"));
        assert_eq!(t.authority, "[::1]:8080");
        for bad in ["ftp://x", "https://", "http://user@host/", "http://host:port/", "http://host/a b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_addresses_are_known() {
        let internal_ones = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::7f00:1",
            "2002:a00:1::1",
        ];
        for ip in internal_ones {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "203.0.114.1", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
