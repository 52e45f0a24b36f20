//! `[access_log]` (one line per request, off the request path) and `[tracing]` (W3C Trace
//! Context, OpenTelemetry export over OTLP/HTTP, off by default). Both are read at start
//! only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, filled, invalid, millis, positive};
pub use crate::observe::access::Format as AccessFormat;
use crate::observe::access::Sink;
use crate::observe::trace::ExportSettings;

/// Lines that may wait for the access-log writer; more are dropped and counted.
pub const DEFAULT_ACCESS_LOG_QUEUE_LINES: usize = 16_384;
/// Spans that may wait for export; more are dropped and counted.
pub const DEFAULT_TRACE_QUEUE_SPANS: usize = 4096;
/// One OTLP export may take this long before it is abandoned.
pub const DEFAULT_TRACE_EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// A batch of spans is sent this often.
pub const DEFAULT_TRACE_EXPORT_INTERVAL: Duration = Duration::from_millis(1000);

/// `[access_log]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct AccessLogFile {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub format: Option<AccessFormat>,
    pub queue_lines: Option<usize>,
}

/// `[access_log]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// Standard output, or a file (relative paths from the configuration's folder).
    pub sink: Sink,
    /// Text or JSON.
    pub format: AccessFormat,
    /// See [`DEFAULT_ACCESS_LOG_QUEUE_LINES`].
    pub queue_lines: usize,
}

/// `[tracing]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct TracingFile {
    /// May carry credentials (`http://user:pass@host`): redacted in a dump.
    pub otlp_endpoint: Option<super::SecretUrl>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
    pub follow_client_sampling: Option<bool>,
    pub queue_spans: Option<usize>,
    pub export_timeout_ms: Option<u64>,
    pub export_interval_ms: Option<u64>,
}

/// The access log, or `None` when disabled.
pub(super) fn validate_access_log(
    a: AccessLogFile,
    base: &Path,
) -> Result<Option<AccessLogConfig>, ConfigError> {
    if a.enabled == Some(false) {
        return Ok(None);
    }
    let sink = match a.path.as_deref() {
        None | Some("-") => Sink::Stdout,
        Some("") => return Err(invalid("access_log.path", "must not be empty (use \"-\")")),
        Some(path) => Sink::File(base.join(PathBuf::from(path))),
    };
    Ok(Some(AccessLogConfig {
        sink,
        format: filled("access_log.format", a.format)?,
        queue_lines: positive("access_log.queue_lines", a.queue_lines)?,
    }))
}

/// The export settings, or `None` when no endpoint is set (no export).
pub(super) fn validate_tracing(t: TracingFile) -> Result<Option<ExportSettings>, ConfigError> {
    let Some(endpoint) = t.otlp_endpoint else {
        return Ok(None);
    };
    let endpoint = endpoint.expose().to_owned();
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| invalid("tracing.otlp_endpoint", "is not a URL"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(invalid(
            "tracing.otlp_endpoint",
            "must be an http:// URL (e.g. http://127.0.0.1:4318/v1/traces): spans go to a \
             collector on the host or its network; https is not built in",
        ));
    }
    let sample_ratio = filled("tracing.sample_ratio", t.sample_ratio)?;
    if !(0.0..=1.0).contains(&sample_ratio) {
        return Err(invalid("tracing.sample_ratio", "must be from 0.0 to 1.0"));
    }
    Ok(Some(ExportSettings {
        endpoint,
        service_name: filled("tracing.service_name", t.service_name)?,
        sample_ratio,
        follow_client_sampling: filled("tracing.follow_client_sampling", t.follow_client_sampling)?,
        queue_spans: positive("tracing.queue_spans", t.queue_spans)?,
        export_timeout: millis("tracing.export_timeout_ms", t.export_timeout_ms)?,
        export_interval: millis("tracing.export_interval_ms", t.export_interval_ms)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a` with its defaults filled in, as validation reads it.
    fn fill(a: AccessLogFile) -> AccessLogFile {
        crate::config::defaults::fill(crate::config::FileConfig {
            access_log: a,
            ..Default::default()
        })
        .access_log
    }

    #[test]
    fn the_access_log_goes_to_stdout_in_text_unless_told() {
        let config = validate_access_log(fill(AccessLogFile::default()), Path::new("/etc/x"))
            .unwrap()
            .unwrap();
        assert_eq!(config.sink, Sink::Stdout);
        assert_eq!(config.format, AccessFormat::Text);
        let file = AccessLogFile {
            path: Some("logs/access.log".into()),
            ..Default::default()
        };
        let config = validate_access_log(fill(file), Path::new("/etc/x"))
            .unwrap()
            .unwrap();
        assert_eq!(
            config.sink,
            Sink::File(PathBuf::from("/etc/x/logs/access.log"))
        );
        let off = AccessLogFile {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(
            validate_access_log(fill(off), Path::new("."))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn tracing_is_off_by_default_and_its_endpoint_is_checked() {
        assert!(validate_tracing(TracingFile::default()).unwrap().is_none());
        for bad in ["https://c:4318/v1/traces", "not a url", "/v1/traces"] {
            let file = TracingFile {
                otlp_endpoint: Some(bad.into()),
                ..Default::default()
            };
            let error = validate_tracing(file).unwrap_err().to_string();
            assert!(error.contains("tracing.otlp_endpoint"), "{bad}: {error}");
        }
        let ratio = TracingFile {
            otlp_endpoint: Some("http://127.0.0.1:4318/v1/traces".into()),
            sample_ratio: Some(1.5),
            ..Default::default()
        };
        assert!(
            validate_tracing(ratio)
                .unwrap_err()
                .to_string()
                .contains("sample_ratio")
        );
    }
}
