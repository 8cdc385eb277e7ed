//! CPU time of processes from `/proc/<pid>/stat`, so a run can say who used the cores.
//!
//! The machine the benchmark runs on is shared by the load generator, the gateway and the
//! backend; ratios only mean something next to each process's CPU time over the same window.

use std::io;

/// User + system CPU time of `pid` (all its threads) in clock ticks, from a `stat` line.
///
/// The command name in field 2 may contain spaces and parentheses, so fields are counted after
/// the last `)`: utime and stime are fields 14 and 15 of the line.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(11); // field 3 ("state") is index 0
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`CLK_TCK`); 100 on every Linux that reports nothing.
pub fn ticks_per_second() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as u64,
        _ => 100,
    }
}

/// CPU seconds `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc stat line"))?;
    Ok(ticks as f64 / ticks_per_second() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_fields_fourteen_and_fifteen() {
        let line = "4242 (authmcp-gateway) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 \
                    9 0 123456 250000000 4000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(line), Some(187));
    }

    #[test]
    fn command_names_with_spaces_and_parentheses_are_skipped() {
        let line = "7 (evil) name (x)) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_cpu_ticks(line), Some(11));
    }

    #[test]
    fn truncated_lines_are_rejected() {
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2 3"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis at all"), None);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_seconds(std::process::id()).unwrap() >= 0.0);
        assert!(ticks_per_second() > 0);
    }
}
