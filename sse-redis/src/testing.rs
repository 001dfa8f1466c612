//! Throwaway Redis servers for tests: a `redis-server` ([`RedisServer`]) or a
//! 3-master Redis Cluster ([`RedisCluster`]), on free loopback ports, each in
//! its own directory, with an append-only file `fsync`ed on every write (so
//! acknowledged events survive a kill), stopped and removed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on a free loopback port.
///
/// ```no_run
/// let redis = ssekit_redis::testing::RedisServer::start()?;
/// println!("{}", redis.url());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` (from `PATH`) and waits until it answers `PING`.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts `redis-server` with extra command-line arguments (e.g.
    /// `["--maxclients", "4"]` or `["--requirepass", "secret"]`), kept for
    /// restarts, and waits until it answers `PING` (an answer that asks for
    /// authentication counts).
    pub fn start_with(args: &[&str]) -> std::io::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir =
            std::env::temp_dir().join(format!("sse-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            child: None,
            port,
            dir,
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        server.spawn()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        self.child = Some(spawn(self.port, &self.dir, &self.args)?);
        Ok(())
    }
}

/// Starts `redis-server` on `port` with its data in `dir` (append-only,
/// `fsync` always, no snapshots) and `args`, and waits until it answers
/// `PING` (an answer that asks for authentication counts).
fn spawn(port: u16, dir: &Path, args: &[String]) -> std::io::Result<Child> {
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ping(port) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(std::io::Error::other(
        "redis-server did not answer PING within 10 s",
    ))
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
}

/// Sends one command (RESP) to the server on `port` and returns its answer,
/// a line (`+`, `-`, `:`) or a bulk string (`$`), as text: enough for the
/// short answers [`RedisCluster`] looks at.
fn ask(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(command.as_bytes())?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        answer.extend_from_slice(&chunk[..n]);
        let Some(line_end) = answer.windows(2).position(|w| w == b"\r\n") else {
            continue;
        };
        let whole = match answer.first() {
            // `$<length>\r\n<bytes>\r\n`
            Some(b'$') => {
                let length: i64 = String::from_utf8_lossy(&answer[1..line_end])
                    .parse()
                    .map_err(std::io::Error::other)?;
                length < 0 || answer.len() >= line_end + 2 + length as usize + 2
            }
            _ => true,
        };
        if whole {
            return Ok(String::from_utf8_lossy(&answer).into_owned());
        }
        if answer.len() > 1024 * 1024 {
            return Err(std::io::Error::other("an answer over 1 MiB"));
        }
    }
}

/// A Redis Cluster of three masters (no replicas), each a `redis-server`
/// child process on a free loopback port with its own directory (its
/// `nodes.conf` and append-only file, so a restarted master comes back with
/// its slots and its data).
///
/// Started with `--cluster-node-timeout 1000`, so the others notice a master
/// that is gone within about a second, and `--cluster-require-full-coverage
/// no`, so the other masters keep serving their slots meanwhile (with the
/// default, `yes`, a cluster without replicas refuses every command while
/// any master is down).
///
/// ```no_run
/// let mut cluster = ssekit_redis::testing::RedisCluster::start()?;
/// println!("{:?}", cluster.urls());
/// cluster.kill(0);
/// cluster.restart(0)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedisCluster {
    masters: Vec<Master>,
    dir: PathBuf,
}

struct Master {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

/// How long the cluster may take to form, or to be whole again.
const CLUSTER_PATIENCE: Duration = Duration::from_secs(30);

impl RedisCluster {
    /// Starts three masters, joins them with `redis-cli --cluster create …
    /// --cluster-replicas 0 --cluster-yes` (both from `PATH`), and waits
    /// until every master reports `cluster_state:ok` and knows the others.
    pub fn start() -> std::io::Result<Self> {
        let mut ports = Vec::new();
        // Held together, so the three ports differ.
        let listeners = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()?;
        for listener in &listeners {
            ports.push(listener.local_addr()?.port());
        }
        drop(listeners);
        let dir = std::env::temp_dir().join(format!(
            "sse-redis-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        let mut cluster = Self {
            masters: Vec::new(),
            dir,
        };
        for port in ports {
            let dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&dir)?;
            let mut master = Master {
                child: None,
                port,
                dir,
            };
            master.child = Some(spawn(port, &master.dir, &cluster_args())?);
            cluster.masters.push(master);
        }
        let addresses: Vec<String> = cluster
            .masters
            .iter()
            .map(|master| format!("127.0.0.1:{}", master.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if !created.status.success() {
            return Err(std::io::Error::other(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&created.stdout)
            )));
        }
        cluster.wait_until_whole()?;
        Ok(cluster)
    }

    /// `redis://127.0.0.1:<port>` of each master, in the order of
    /// [`kill`](Self::kill)'s indices.
    pub fn urls(&self) -> Vec<String> {
        self.masters
            .iter()
            .map(|master| format!("redis://127.0.0.1:{}", master.port))
            .collect()
    }

    /// The index of the master that holds `key`'s slot now (the one that
    /// answers for it rather than with `MOVED`).
    pub fn master_of(&self, key: &str) -> std::io::Result<usize> {
        for (at, master) in self.masters.iter().enumerate() {
            if master.child.is_some() && ask(master.port, &["EXISTS", key])?.starts_with(':') {
                return Ok(at);
            }
        }
        Err(std::io::Error::other(format!(
            "no running master answers for {key}"
        )))
    }

    /// Kills master `at` with SIGKILL, as a crash would (its port, its
    /// `nodes.conf` and its data stay for [`restart`](Self::restart)).
    ///
    /// # Panics
    ///
    /// If there is no master `at` (0, 1 or 2).
    pub fn kill(&mut self, at: usize) {
        if let Some(mut child) = self.masters[at].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts master `at` again on its port and directory (it rejoins with
    /// its node id, slots and data), and waits until the cluster is whole
    /// again (`cluster_state:ok` on every master).
    ///
    /// # Panics
    ///
    /// If there is no master `at` (0, 1 or 2).
    pub fn restart(&mut self, at: usize) -> std::io::Result<()> {
        self.kill(at);
        let master = &mut self.masters[at];
        master.child = Some(spawn(master.port, &master.dir, &cluster_args())?);
        self.wait_until_whole()
    }

    /// Kills every master (SIGKILL): the whole cluster gone at once.
    pub fn kill_all(&mut self) {
        for at in 0..self.masters.len() {
            self.kill(at);
        }
    }

    /// Starts every master that is not running again, each on its port and
    /// directory, and waits until the cluster is whole again.
    pub fn restart_all(&mut self) -> std::io::Result<()> {
        for master in &mut self.masters {
            if master.child.is_none() {
                master.child = Some(spawn(master.port, &master.dir, &cluster_args())?);
            }
        }
        self.wait_until_whole()
    }

    fn wait_until_whole(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + CLUSTER_PATIENCE;
        while Instant::now() < deadline {
            let whole = self.masters.iter().all(|master| {
                ask(master.port, &["CLUSTER", "INFO"]).is_ok_and(|info| {
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && info.contains("cluster_known_nodes:3")
                })
            });
            if whole {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other(format!(
            "the cluster was not whole (cluster_state:ok) within {CLUSTER_PATIENCE:?}"
        )))
    }
}

fn cluster_args() -> Vec<String> {
    [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "1000",
        "--cluster-require-full-coverage",
        "no",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
