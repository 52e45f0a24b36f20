//! The standard `process_*` metrics, read from `/proc/self` at each scrape (Linux; on
//! other systems the collector writes nothing). Written here because prometheus-client
//! has no process collector and the five numbers do not warrant the `procfs` crate.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Linux reports CPU times in clock ticks of `USER_HZ`, which is 100 on every
/// architecture Linux runs on (it is part of the kernel's user ABI).
const USER_HZ: f64 = 100.0;

/// The process collector.
#[derive(Debug)]
pub(super) struct Process;

/// What one scrape read.
#[derive(Debug, Default, PartialEq)]
struct Reading {
    cpu_seconds: f64,
    start_time_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    open_fds: i64,
    max_fds: i64,
    threads: i64,
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(r) = read() else { return Ok(()) };
        let counter = ConstCounter::new(r.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            counter.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 6] = [
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                r.start_time_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                r.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                r.virtual_bytes as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                r.open_fds as f64,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                r.max_fds as f64,
            ),
            ("process_threads", "Number of OS threads", r.threads as f64),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

fn read() -> Option<Reading> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    // Less the descriptor `read_dir` itself holds open while listing.
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64 - 1;
    parse(&stat, &status, &limits, &boot, open_fds)
}

/// The pure part of [`read`].
fn parse(stat: &str, status: &str, limits: &str, boot: &str, open_fds: i64) -> Option<Reading> {
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Field n of `man 5 proc` is fields[n - 3] here.
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let cpu_ticks = field(14)? + field(15)?;
    let start_ticks = field(22)?;
    let boot_time: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let kib = |key: &str| -> Option<i64> {
        let line = status.lines().find_map(|l| l.strip_prefix(key))?;
        let number = line.trim().trim_end_matches("kB").trim();
        number.parse::<i64>().ok().map(|v| v * 1024)
    };
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()?;
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(Reading {
        cpu_seconds: cpu_ticks / USER_HZ,
        start_time_seconds: boot_time + start_ticks / USER_HZ,
        resident_bytes: kib("VmRSS:")?,
        virtual_bytes: kib("VmSize:")?,
        open_fds,
        max_fds,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_field_by_field() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                    9 0 12345 123456789 2000 18446744073709551615";
        let status = "Name:\tsealgate\nVmSize:\t  204800 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            65536                65536                files\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\n";
        let reading = parse(stat, status, limits, boot, 17).unwrap();
        assert_eq!(
            reading,
            Reading {
                cpu_seconds: 3.0,
                start_time_seconds: 1_700_000_123.45,
                resident_bytes: 10_485_760,
                virtual_bytes: 209_715_200,
                open_fds: 17,
                max_fds: 65536,
                threads: 9,
            }
        );
    }

    #[test]
    fn this_process_can_be_read() {
        let reading = read().unwrap();
        assert!(reading.resident_bytes > 0 && reading.open_fds > 0 && reading.threads > 0);
    }
}
