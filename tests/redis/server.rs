//! Real `redis-server` processes on free loopback ports, started and stopped by the tests:
//! one standalone server, or a three-master cluster built with `redis-cli --cluster create`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the `redis-server` binary can be run here.
pub fn available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback port free now (and, for cluster nodes, with its bus port `port + 10000` free).
fn free_port(with_bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One `redis-server` process; killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    cluster: bool,
    /// TLS only (`--port 0 --tls-port`), with a certificate made by the test.
    tls: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// A standalone server with nothing persisted.
    pub fn start() -> Self {
        Self::spawn(free_port(false), false, false)
    }

    /// A standalone server speaking TLS only, with a self-signed certificate for
    /// `127.0.0.1` at [`RedisServer::ca_file`].
    pub fn start_tls() -> Self {
        Self::spawn(free_port(false), false, true)
    }

    fn spawn(port: u16, cluster: bool, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if tls {
            let certified = rcgen::generate_simple_self_signed(vec![
                "127.0.0.1".to_owned(),
                "localhost".to_owned(),
            ])
            .unwrap();
            std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
            std::fs::write(
                dir.path().join("key.pem"),
                certified.key_pair.serialize_pem(),
            )
            .unwrap();
        }
        let mut server = RedisServer {
            port,
            dir,
            cluster,
            tls,
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The TLS server's certificate, to trust as a CA.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn client(&self) -> redis::RedisResult<redis::Client> {
        if self.tls {
            redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(self.ca_file()).unwrap()),
                },
            )
        } else {
            redis::Client::open(self.url())
        }
    }

    /// Kills the server (as a crash would: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty, as after a crash without
    /// persistence) and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new("redis-server");
        if self.tls {
            let path = |name: &str| self.dir.path().join(name).display().to_string();
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args([
                    "--tls-cert-file",
                    &path("cert.pem"),
                    "--tls-key-file",
                    &path("key.pem"),
                ])
                .args([
                    "--tls-ca-cert-file",
                    &path("cert.pem"),
                    "--tls-auth-clients",
                    "no",
                ])
                .args(["--bind", "127.0.0.1"]);
        } else {
            command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"]);
        }
        command
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]);
        }
        self.child = Some(command.spawn().expect("redis-server starts"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ping().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A synchronous connection, for the tests' own look at what is stored.
    pub fn connection(&self) -> redis::Connection {
        self.client()
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING").query(&mut self.client()?.get_connection()?)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three masters holding all 16384 slots between them.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<_> = (0..3)
            .map(|_| RedisServer::spawn(free_port(true), true, false))
            .collect();
        let addresses: Vec<_> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.connection())
                    .unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster did not become ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes }
    }

    /// The seed-node URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
