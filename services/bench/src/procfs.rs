//! What Linux tells about processes and the machine: CPU time and peak resident memory of a
//! process (`/proc/<pid>/stat`, `/proc/<pid>/status`), CPU time of the PostgreSQL and RabbitMQ
//! server processes, the machine's busy time (`/proc/stat`), and the machine itself
//! (`/proc/cpuinfo`, `/proc/meminfo`).

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// CPU time and memory of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Peak resident set size (`VmHWM`) in kB: since start, or since [`reset_peak`].
    pub peak_kb: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on every usual
/// Linux).
fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

fn ticks(n: u64) -> Duration {
    Duration::from_micros(n * 1_000_000 / ticks_per_second())
}

/// `utime + stime` of a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses
/// and may contain spaces, so fields are counted after the last `)`.
fn stat_cpu(stat: &str) -> Option<(String, Duration)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, ticks(utime + stime)))
}

/// The process's CPU time and peak RSS.
pub fn usage(pid: u32) -> std::io::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (_, cpu) = stat_cpu(&stat)
        .ok_or_else(|| std::io::Error::other(format!("cannot parse /proc/{pid}/stat")))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok(Usage { cpu, peak_kb })
}

/// Resets the process's peak RSS to its current RSS (`echo 5 > /proc/<pid>/clear_refs`), so a
/// later [`usage`] reports the peak of one phase. Returns whether it worked (it needs the
/// permission to write there: the same user, which the bench's children are).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Total CPU time of every running process whose command name is one of `names` (e.g. all
/// `postgres` backends and background workers). Processes that exited in between are missing
/// from a later sum, so a difference slightly under-counts short-lived connections.
pub fn cpu_of_commands(names: &[&str]) -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| stat_cpu(&s))
        .filter(|(comm, _)| names.contains(&comm.as_str()))
        .map(|(_, cpu)| cpu)
        .sum()
}

/// CPU time of the PostgreSQL server's processes, split by the process title PostgreSQL sets
/// (`postgres: 15/main: <user> <database> <client> <activity>`, visible in
/// `/proc/<pid>/cmdline`): per pid for the backends (and autovacuum workers) of `databases`,
/// and one sum for the shared background processes (checkpointer, WAL writer, background writer,
/// the postmaster). Backends of other databases — other people's work on the same server — are
/// left out.
#[derive(Debug, Clone, Default)]
pub struct PostgresCpu {
    pub ours: std::collections::HashMap<u32, Duration>,
    pub background: Duration,
}

pub fn postgres_cpu(databases: &[&str]) -> PostgresCpu {
    let mut out = PostgresCpu::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((comm, cpu)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| stat_cpu(&s))
        else {
            continue;
        };
        if comm != "postgres" {
            continue;
        }
        let title = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let words: Vec<&str> = title.split_whitespace().collect();
        if words.iter().any(|w| databases.contains(w)) {
            out.ours.insert(pid, cpu);
        } else if is_background(&words) {
            out.background += cpu;
        }
    }
    out
}

/// The postmaster and the cluster-wide helpers; not a client backend (whose title has a
/// `host(port)` or `[local]` word) and not an autovacuum worker of some database.
fn is_background(words: &[&str]) -> bool {
    let client = words
        .iter()
        .any(|w| w.contains('(') || *w == "[local]" || *w == "worker");
    !client
}

impl PostgresCpu {
    /// CPU time used by each of our backends since `earlier` (pids that started since count
    /// fully; pids that exited meanwhile are lost).
    pub fn per_backend_since(
        &self,
        earlier: &PostgresCpu,
    ) -> std::collections::HashMap<u32, Duration> {
        self.ours
            .iter()
            .map(|(pid, cpu)| {
                let before = earlier.ours.get(pid).copied().unwrap_or_default();
                (*pid, cpu.saturating_sub(before))
            })
            .collect()
    }
}

/// The machine's CPU time so far, over all cores: `(busy, total)`.
pub fn machine_cpu() -> (Duration, Duration) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user already).
    let at = |i: usize| n.get(i).copied().unwrap_or(0);
    let idle = at(3) + at(4);
    let total: u64 = (0..8).map(at).sum();
    (ticks(total - idle), ticks(total))
}

/// A description of the machine: CPU model, cores, memory, kernel load.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub load_average: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            cpu_model,
            cores,
            memory_gib: memory_kb / 1024.0 / 1024.0,
            load_average,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB memory",
            self.cores, self.cpu_model, self.memory_gib
        )
    }
}

/// Whether `/proc` looks like Linux's (the bench needs it for the cost figures).
pub fn available() -> bool {
    Path::new("/proc/self/stat").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_spaces_in_the_command_name_are_read() {
        let line = "1234 (tokio worker 1) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 0 0";
        let (comm, cpu) = stat_cpu(line).expect("parses");
        assert_eq!(comm, "tokio worker 1");
        assert_eq!(cpu, ticks(300));
    }

    #[test]
    fn background_processes_are_told_from_backends() {
        let title = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let is_bg = |t: &str| {
            let words = title(t);
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            is_background(&refs)
        };
        assert!(is_bg("postgres: 15/main: checkpointer"));
        assert!(is_bg(
            "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main"
        ));
        assert!(!is_bg(
            "postgres: 15/main: postgres orghub_test_x 127.0.0.1(5432) idle"
        ));
        assert!(!is_bg("postgres: 15/main: autovacuum worker orghub_test_x"));
    }

    #[test]
    fn this_process_has_a_usage() {
        let u = usage(std::process::id()).expect("own /proc entry");
        assert!(u.peak_kb > 0);
    }
}
