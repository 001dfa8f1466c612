//! A throwaway `nats-server -js` for tests: its own ports (client and
//! monitoring) and store directory, killed and removed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` child process with JetStream (file storage in a directory
/// of its own) on free loopback ports.
///
/// The binary is `$NATS_SERVER` if set, else `nats-server` from `PATH`, else
/// `/usr/sbin/nats-server` (where Debian's package puts it).
///
/// ```no_run
/// let nats = ssekit_nats::testing::NatsServer::start()?;
/// println!("{}", nats.url());
/// let connections = nats.monitor("/connz")?; // JSON from the monitoring port
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    monitor_port: u16,
    dir: PathBuf,
}

impl NatsServer {
    /// Starts the server and waits until its JetStream is ready (`/healthz`).
    pub fn start() -> std::io::Result<Self> {
        // Both held at once, so the two are distinct.
        let (client, monitor) = (free_port()?, free_port()?);
        let port = client.local_addr()?.port();
        let monitor_port = monitor.local_addr()?.port();
        drop((client, monitor));
        let dir = std::env::temp_dir().join(format!("sse-nats-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            child: None,
            port,
            monitor_port,
            dir,
        };
        server.spawn()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The HTTP monitoring port (`/connz`, `/jsz`, `/healthz`, ...).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The body of `GET <path>` on the monitoring port, e.g. `/connz` or
    /// `/jsz?consumers=true`.
    pub fn monitor(&self, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.monitor_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            let status = head.lines().next().unwrap_or_default();
            return Err(std::io::Error::other(format!("{path}: {status}")));
        }
        Ok(body.to_owned())
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and store directory.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new(binary())
            .args(["-js", "-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .arg("-sd")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.monitor("/healthz").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(
            "nats-server was not healthy within 20 s",
        ))
    }
}

/// A number field of a monitoring endpoint's JSON (`"name": 12`), the first
/// one of that name; `None` when there is none.
///
/// ```
/// let varz = r#"{"in_msgs": 12, "out_msgs":3}"#;
/// assert_eq!(ssekit_nats::testing::json_number(varz, "in_msgs"), Some(12));
/// assert_eq!(ssekit_nats::testing::json_number(varz, "out_msgs"), Some(3));
/// assert_eq!(ssekit_nats::testing::json_number(varz, "mem"), None);
/// ```
pub fn json_number(json: &str, name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let at = json.find(&key)? + key.len();
    json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

fn free_port() -> std::io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
