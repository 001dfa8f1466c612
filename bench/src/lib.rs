//! Shared pieces of the fan-out benchmark: the event payload, the process
//! probes read from `/proc`, the socket set-up both sides need, and the
//! lines the binaries print.
//!
//! The binaries: `sse-bench-server` (one framework, one variant, `GET /sse`),
//! `sse-bench-load` (N connections, checks and times every event) and
//! `bench-all`, which runs them in turn and writes the report.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The topic every connection subscribes to.
pub const TOPIC: &str = "bench";

/// Frames each subscriber may have waiting, for the hub and the native
/// broadcast channel alike: a burst must fit, or both would lose events.
pub const QUEUE: usize = 256;

/// Nanoseconds since the Unix epoch: the one clock both processes share.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

/// Event data of `size` bytes: `"<seq> <send time ns> xxx…"`.
pub fn payload(seq: u64, sent_ns: u64, size: usize) -> String {
    let mut data = format!("{seq} {sent_ns} ");
    if data.len() < size {
        data.extend(std::iter::repeat_n('x', size - data.len()));
    }
    data
}

/// Raises the open-file limit to the hard limit: 10 000 connections need
/// more descriptors than the usual soft limit of 1024.
pub fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// A non-blocking listener on loopback with a backlog long enough for bursts
/// of connects (std's default is 128).
pub fn listener() -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The line protocol between `bench-all` (or a test) and the two binaries:
/// each prints `PORT <n>`, `READY …` or `DONE key=value …` lines on stdout.
pub mod alloc_count;

pub mod lines {
    use std::io::BufRead;

    /// The rest of the next line from `reader` that starts with `prefix`,
    /// skipping any other line. Panics if the child's output ends first.
    pub fn after(reader: &mut impl BufRead, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line).expect("read child output");
            assert!(read > 0, "the child ended before printing {prefix}");
            if let Some(rest) = line.trim().strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// The number after `key=` in a `DONE` line, if there is one.
    pub fn field(done: &str, key: &str) -> Option<f64> {
        done.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
    }
}

/// A loopback source address for the load generator's run `run`, fresh for
/// each run (250 per block from `127.0.<block>.1`), so that earlier runs'
/// TIME_WAIT ports stay out of the way; `block` keeps two tools' runs apart.
pub fn source_address(block: usize, run: usize) -> String {
    format!("127.0.{}.{}", block + run / 250, 1 + run % 250)
}

/// The directory of the benchmark's binaries for an example running from
/// `target/<profile>/examples/`: `target/<profile>`, once each of `bins` is
/// there (built by `cargo build --release -p ssekit-bench --bins`).
pub fn binaries(bins: &[&str]) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("profile dir")
        .to_path_buf();
    for bin in bins {
        assert!(
            dir.join(bin).exists(),
            "{bin} missing: run `cargo build --release -p ssekit-bench --bins`"
        );
    }
    dir
}

/// Starts one of the benchmark's binaries from `dir`, pinned to `core` with
/// `taskset` if given, with piped stdin and stdout (the line protocol of
/// [`lines`]) and the parent's stderr.
pub fn spawn(
    dir: &std::path::Path,
    bin: &str,
    core: Option<u32>,
    args: &[String],
) -> std::process::Child {
    use std::process::{Command, Stdio};
    let mut command = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string()]).arg(dir.join(bin));
            c
        }
        None => Command::new(dir.join(bin)),
    };
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"))
}

/// Probes of another process, from `/proc`.
pub mod proc {
    /// CPU time `pid` (all threads) has spent so far, from `/proc/<pid>/stat`
    /// (clock-tick resolution, usually 10 ms).
    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    pub struct CpuTime {
        /// Seconds in user space.
        pub user: f64,
        /// Seconds in the kernel (system calls, and the softirq work they
        /// trigger: on loopback, a write also runs the receiving side's TCP).
        pub system: f64,
    }

    impl CpuTime {
        /// User plus system seconds.
        pub fn total(&self) -> f64 {
            self.user + self.system
        }
    }

    impl std::ops::Sub for CpuTime {
        type Output = CpuTime;

        fn sub(self, earlier: CpuTime) -> CpuTime {
            CpuTime {
                user: self.user - earlier.user,
                system: self.system - earlier.system,
            }
        }
    }

    /// The CPU time of `pid` so far, or `None` if it cannot be read.
    pub fn cpu_time(pid: u32) -> Option<CpuTime> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces: fields are counted after its ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
        let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Some(CpuTime {
            user: ticks(11)? as f64 / per_second,
            system: ticks(12)? as f64 / per_second,
        })
    }

    fn status_kib(pid: u32, key: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Resident set size of `pid` now, in KiB.
    pub fn rss_kib(pid: u32) -> Option<u64> {
        status_kib(pid, "VmRSS:")
    }

    /// Peak resident set size of `pid` since it started, in KiB.
    pub fn peak_rss_kib(pid: u32) -> Option<u64> {
        status_kib(pid, "VmHWM:")
    }
}
