//! What the process-level benches (`load`, `versus_nginx`) share: the gateway configuration
//! they measure, built with the typed configuration, and the helpers that read the machine
//! (`/proc` CPU time, free ports, tools on the PATH).

#![allow(
    dead_code,
    reason = "each bench uses the part it needs; unused in one is used in the other"
)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use sealgate::config::{
    AccessLogFile, AdminFile, ChannelFile, FileConfig, RouteAuth, RouteFile, ServerFile, TokenFile,
    TokenKeyFile,
};
use sealgate_testkit::{client_file, route_file};

/// The token key's environment variable and its value (`Z` × 32, base64url), and the client
/// secret's: the configuration names variables, so it can be written as TOML for a gateway
/// process (a secret written inline would serialize as `<redacted>`).
pub(crate) const SECRETS: [(&str, &str); 2] = [
    (
        "SEALGATE_BENCH_TOKEN_KEY",
        "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo",
    ),
    ("SEALGATE_BENCH_CLIENT_SECRET", "s"),
];

/// The client the benches call as: `apiKey` `A` on channel `C`, secret `s`.
pub(crate) const CLIENT: (&str, &str, &str) = ("A", "C", "s");

/// The gateway under measurement: `listen`; no admin listener; no access line unless
/// `access_log` names a file; one token key; channel `C` (HKDF); client `A`; the sealed route
/// `/api/` and the plain route `/plain/` (`auth = "none"`), both to `upstream`; no per-session
/// request limit and no token rate limit (a bench sends millions from one address).
pub(crate) fn gateway_file(
    upstream: SocketAddr,
    listen: SocketAddr,
    access_log: Option<&str>,
) -> FileConfig {
    let url = format!("http://{upstream}");
    let (api_key, channel, _) = CLIENT;
    let mut client = client_file("", &[channel]);
    client.secret = None;
    client.secret_env = Some(SECRETS[1].0.to_owned());
    FileConfig {
        server: ServerFile {
            listen: Some(listen),
            ..Default::default()
        },
        admin: AdminFile {
            enabled: Some(false),
            ..Default::default()
        },
        access_log: AccessLogFile {
            enabled: Some(access_log.is_some()),
            path: access_log.map(str::to_owned),
            ..Default::default()
        },
        token: TokenFile {
            max_requests_per_session: Some(100_000_000),
            rate_limit_per_address_per_minute: Some(0),
            keys: vec![TokenKeyFile {
                kid: Some("bench".to_owned()),
                key_env: Some(SECRETS[0].0.to_owned()),
                ..Default::default()
            }],
            ..Default::default()
        },
        channels: [(channel.to_owned(), ChannelFile::default())].into(),
        clients: [(api_key.to_owned(), client)].into(),
        routes: vec![
            route_file("/api/", &url),
            RouteFile {
                auth: Some(RouteAuth::None),
                ..route_file("/plain/", &url)
            },
        ],
        ..Default::default()
    }
}

/// `file` validated as the gateway process would, with [`SECRETS`] as its environment.
pub(crate) fn validate(file: FileConfig) -> sealgate::config::Config {
    sealgate::config::Config::from_file(file, std::path::Path::new("."), &|name| {
        SECRETS
            .iter()
            .find(|(variable, _)| *variable == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .expect("the bench configuration is valid")
}

/// `file` as the TOML a gateway process reads (run it with [`SECRETS`] in its environment).
pub(crate) fn toml_text(file: &FileConfig) -> String {
    toml::to_string(file).expect("a configuration serializes")
}

/// An integer from the environment, or `default`.
pub(crate) fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `cmd` is on the PATH.
pub(crate) fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback port free now, for a server that takes its port as an argument.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// utime + stime of `pid` and its direct children (nginx's workers), in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let children: f64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|child| parent_of(*child) == Some(pid))
        .map(own_cpu_seconds)
        .sum();
    own_cpu_seconds(pid) + children
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// utime + stime of `pid` alone, in seconds (0 when it is gone).
pub(crate) fn own_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split(' ').collect())
        .unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// The median of `values` (the upper one of an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// OpenSSL 3 doing one token's cryptography, the reference the token figures are quoted
/// against: a P-256 key pair made for the token, `agreements` ECDH with a client's key (two
/// for a sealed token request), and an ES256 signature (SHA-256, then ECDSA) by a fixed key.
pub(crate) struct OpenSslToken {
    curve: openssl::ec::EcGroup,
    signer: openssl::ec::EcKey<openssl::pkey::Private>,
    peer: openssl::pkey::PKey<openssl::pkey::Public>,
    ctx: openssl::bn::BigNumContext,
}

impl OpenSslToken {
    /// With `peer` as the client's public key (SEC 1 uncompressed), or a random one.
    pub(crate) fn new(peer: Option<&[u8]>) -> Self {
        use openssl::{bn, ec, nid, pkey};
        let curve = ec::EcGroup::from_curve_name(nid::Nid::X9_62_PRIME256V1).unwrap();
        let signer = ec::EcKey::generate(&curve).unwrap();
        let mut ctx = bn::BigNumContext::new().unwrap();
        let peer = match peer {
            Some(point) => {
                let point = ec::EcPoint::from_bytes(&curve, point, &mut ctx).unwrap();
                ec::EcKey::from_public_key(&curve, &point).unwrap()
            }
            None => {
                let key = ec::EcKey::generate(&curve).unwrap();
                ec::EcKey::from_public_key(&curve, key.public_key()).unwrap()
            }
        };
        let peer = pkey::PKey::from_ec_key(peer).unwrap();
        OpenSslToken {
            curve,
            signer,
            peer,
            ctx,
        }
    }

    /// One token: returns the public key made, the last `Z` and the signature of `message`.
    pub(crate) fn run(
        &mut self,
        agreements: usize,
        message: &[u8],
    ) -> (Vec<u8>, Vec<u8>, openssl::ecdsa::EcdsaSig) {
        use openssl::{derive, ec, ecdsa, hash, pkey};
        let server = pkey::PKey::from_ec_key(ec::EcKey::generate(&self.curve).unwrap()).unwrap();
        let public = server
            .ec_key()
            .unwrap()
            .public_key()
            .to_bytes(
                &self.curve,
                ec::PointConversionForm::UNCOMPRESSED,
                &mut self.ctx,
            )
            .unwrap();
        let mut z = Vec::new();
        for _ in 0..agreements {
            let mut deriver = derive::Deriver::new(&server).unwrap();
            deriver.set_peer(&self.peer).unwrap();
            z = deriver.derive_to_vec().unwrap();
        }
        let digest = hash::hash(hash::MessageDigest::sha256(), message).unwrap();
        (
            public,
            z,
            ecdsa::EcdsaSig::sign(&digest, &self.signer).unwrap(),
        )
    }
}
