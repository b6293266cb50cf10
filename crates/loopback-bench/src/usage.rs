//! The process's own CPU time and memory, read from the kernel (Linux).

use std::time::Duration;

/// CPU time (user and system, every thread) this process has used so far.
pub(crate) fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// The resident set size now, in bytes (0 where `/proc` is not there).
pub(crate) fn rss() -> u64 {
    status_kib("VmRSS:") * 1024
}

/// The largest resident set size so far, in bytes (0 where `/proc` is not there).
pub(crate) fn peak_rss() -> u64 {
    status_kib("VmHWM:") * 1024
}
