//! What the kernel says about a process: CPU seconds (`/proc/<pid>/stat`, utime + stime
//! of every thread) and memory (`/proc/<pid>/status`: VmRSS now, VmHWM the peak RSS over
//! the process's life).

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Sample {
    /// User + system CPU seconds consumed so far, all threads.
    pub cpu_secs: f64,
    /// Resident set size now, bytes.
    pub rss: u64,
    /// Peak resident set size so far ("high water mark"), bytes.
    pub hwm: u64,
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we know of).
fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// CPU seconds of `pid` (utime + stime, all threads).
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces: parse after its closing paren.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: f64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: f64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    Ok((utime + stime) / clk_tck())
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix(name)?.strip_prefix(':')?;
        let kb: u64 = v.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// CPU and memory of `pid`.
pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(Sample {
        cpu_secs: cpu_secs(pid)?,
        rss: status_field(&status, "VmRSS").unwrap_or(0),
        hwm: status_field(&status, "VmHWM").unwrap_or(0),
    })
}

/// Reads `pid` if given; a missing process is an error (the server died).
pub fn maybe_sample(pid: Option<u32>) -> anyhow::Result<Option<Sample>> {
    pid.map(sample).transpose()
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU seconds of the calling thread, with nanosecond resolution
/// (`/proc/thread-self/schedstat`), for the in-process limit.
pub fn thread_cpu_secs() -> anyhow::Result<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").context("reading /proc/thread-self/schedstat")?;
    let ns: u64 = s.split_whitespace().next().ok_or_else(|| anyhow!("empty schedstat"))?.parse()?;
    Ok(ns as f64 / 1e9)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss > 0 && s.hwm >= s.rss / 2);
        assert!(s.cpu_secs >= 0.0);
        assert!(open_files_limit().unwrap() > 0);
        let t = thread_cpu_secs().unwrap();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(thread_cpu_secs().unwrap() > t);
    }
}
