//! The gateway binary as operators run it: started on a configuration file with its
//! listeners on port 0 (the bound addresses read from its JSON log), signalled with
//! `kill`, and observed through its admin listener and its log.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sealgate_testkit::*;

/// The gateway binary, started on a configuration file with its listeners on port 0.
pub(crate) struct Binary {
    pub(crate) child: tokio::process::Child,
    pub(crate) addr: SocketAddr,
    admin: SocketAddr,
    /// Every log line so far (JSON).
    logs: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    pub(crate) async fn start(config: &Path) -> Binary {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (mut addr, mut admin) = (None, None);
        while addr.is_none() || admin.is_none() {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the gateway starts");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let bound = || v["fields"]["addr"].as_str().unwrap().parse().ok();
            match v["fields"]["message"].as_str() {
                Some("sealgate listening (http)") => addr = bound(),
                Some("sealgate admin listening") => admin = bound(),
                _ => {}
            }
            logs.lock().unwrap().push(line);
        }
        let all = Arc::clone(&logs);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                all.lock().unwrap().push(line);
            }
        });
        Binary {
            child,
            addr: addr.unwrap(),
            admin: admin.unwrap(),
            logs,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends the process `signal` (`"HUP"`, `"TERM"`).
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) async fn metric(&self, series: &str) -> f64 {
        let reply = send(
            Request::get(format!("http://{}/metrics", self.admin))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
        metric(&String::from_utf8_lossy(&reply.body), series)
    }

    /// Waits until `sealgate_config_reloads_total{outcome}` reaches `count`.
    pub(crate) async fn reloads(&self, outcome: &str, count: f64) {
        let series = format!("sealgate_config_reloads_total{{outcome=\"{outcome}\"}}");
        eventually(&format!("{series} = {count}"), async || {
            self.metric(&series).await == count
        })
        .await;
    }

    pub(crate) fn logged(&self, message: &str) -> bool {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(message))
    }
}
