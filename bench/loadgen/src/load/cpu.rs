//! CPU time of named processes over a measurement window (the load generator itself included),
//! so a report shows who was using the two shared cores.

use std::time::Instant;

use serde::Serialize;

use crate::procstat;

/// CPU used by one process during the window; `utilization` is in cores (1.0 = one core busy).
#[derive(Debug, Clone, Serialize)]
pub struct CpuUsage {
    pub name: String,
    pub pid: u32,
    pub cpu_s: f64,
    pub utilization: f64,
}

/// Readings taken at the start of a window.
pub struct CpuProbe {
    processes: Vec<(String, u32, f64)>,
    started: Instant,
}

impl CpuProbe {
    /// Starts a window over `others` (name, pid) and this process (named `load`).
    pub fn start(others: &[(String, u32)]) -> Self {
        let mut processes: Vec<(String, u32)> = vec![("load".to_owned(), std::process::id())];
        processes.extend(others.iter().cloned());
        let processes = processes
            .into_iter()
            .map(|(name, pid)| {
                let cpu = procstat::cpu_seconds(pid).unwrap_or(f64::NAN);
                (name, pid, cpu)
            })
            .collect();
        CpuProbe {
            processes,
            started: Instant::now(),
        }
    }

    /// Ends the window; a process that vanished reports NaN.
    pub fn finish(&self) -> Vec<CpuUsage> {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.processes
            .iter()
            .map(|(name, pid, before)| {
                let after = procstat::cpu_seconds(*pid).unwrap_or(f64::NAN);
                let cpu_s = after - before;
                CpuUsage {
                    name: name.clone(),
                    pid: *pid,
                    cpu_s,
                    utilization: cpu_s / elapsed,
                }
            })
            .collect()
    }
}

/// Parses `name=pid` as given to `--pid`.
pub fn parse_named_pid(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("--pid {text:?}: expected NAME=PID"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("--pid {text:?}: {pid:?} is not a process id"))?;
    Ok((name.to_owned(), pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_pids_parse_and_bad_ones_explain() {
        assert_eq!(parse_named_pid("gateway=42"), Ok(("gateway".into(), 42)));
        assert!(parse_named_pid("gateway").unwrap_err().contains("NAME=PID"));
        assert!(
            parse_named_pid("gateway=x")
                .unwrap_err()
                .contains("not a process id")
        );
    }

    #[test]
    fn a_window_always_reports_this_process_first() {
        let probe = CpuProbe::start(&[]);
        let usage = probe.finish();
        assert_eq!(usage[0].name, "load");
        assert!(usage[0].cpu_s >= 0.0);
    }
}
