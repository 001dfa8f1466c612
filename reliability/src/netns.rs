//! A client host behind a cable a test can pull.
//!
//! On loopback a client can only leave politely or loudly (FIN or RST): its
//! kernel answers every segment. A peer that loses power, walks out of Wi-Fi
//! range or sits behind a NAT that forgot it answers nothing at all, so the
//! server's writes go unacknowledged until TCP gives up. To reproduce that,
//! [`RemoteHost`] is a network namespace joined to this one by a veth pair:
//! sockets made for it live on the far side, and [`RemoteHost::unplug`] takes
//! the far end of the pair down, after which nothing crosses in either
//! direction and no packet tells the server.
//!
//! Needs `CAP_NET_ADMIN` (root) and iproute2's `ip`, as CI has.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::TcpSocket;

/// A network namespace with one veth link to this one. Dropping it removes
/// both (the namespace itself lives on while a socket made in it is open).
#[derive(Debug)]
pub struct RemoteHost {
    namespace: String,
    host_link: String,
    far_link: String,
    host_ip: Ipv4Addr,
}

impl RemoteHost {
    /// Creates the namespace and the link, each end with an address of its
    /// own /30 (in 10.231.0.0/16, picked per process and per host so tests
    /// running at once do not collide), and both ends up.
    pub fn create() -> io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let serial = NEXT.fetch_add(1, Ordering::Relaxed);
        // 14 bits: 10 of the pid, 4 of the serial; a /30 each.
        let index = ((pid % 1024) << 4) | (serial % 16);
        let base = u32::from(Ipv4Addr::new(10, 231, 0, 0)) + (index << 2);
        // Interface names are at most 15 bytes.
        let tag = format!("{}x{serial}", pid % 100_000);
        let host = Self {
            namespace: format!("sse-remote-{pid}-{serial}"),
            host_link: format!("sh{tag}"),
            far_link: format!("sf{tag}"),
            host_ip: Ipv4Addr::from(base + 1),
        };
        let far_ip = Ipv4Addr::from(base + 2);
        ip(&["netns", "add", &host.namespace])?;
        // From here on, dropping `host` cleans up whatever was made.
        let (host_link, far_link, namespace) = (&host.host_link, &host.far_link, &host.namespace);
        ip(&[
            "link", "add", host_link, "type", "veth", "peer", "name", far_link,
        ])?;
        ip(&["link", "set", far_link, "netns", namespace])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", host.host_ip),
            "dev",
            host_link,
        ])?;
        ip(&["link", "set", host_link, "up"])?;
        let far_addr = format!("{far_ip}/30");
        ip(&["-n", namespace, "addr", "add", &far_addr, "dev", far_link])?;
        ip(&["-n", namespace, "link", "set", far_link, "up"])?;
        Ok(host)
    }

    /// This side's address on the link: where a server must listen for the
    /// remote host to reach it.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// A TCP socket in the remote host's namespace (it stays there wherever it
    /// is used from).
    pub fn socket(&self) -> io::Result<TcpSocket> {
        let path = format!("/run/netns/{}", self.namespace);
        // `setns` moves only the calling thread, so a throwaway one does it.
        std::thread::spawn(move || {
            let namespace = File::open(path)?;
            // SAFETY: a plain syscall on a file descriptor we own; it changes
            // only this thread's network namespace, and the thread ends here.
            if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            TcpSocket::new_v4()
        })
        .join()
        .map_err(|_| io::Error::other("the setns thread panicked"))?
    }

    /// Pulls the cable: the far end of the link goes down, so from now on
    /// every packet either way is dropped, silently.
    pub fn unplug(&self) -> io::Result<()> {
        ip(&["-n", &self.namespace, "link", "set", &self.far_link, "down"])
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both.
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").args(args).output().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("running `ip` (iproute2) failed: {error}"),
        )
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "`ip {}` failed ({}): {} (network namespaces need root, or CAP_NET_ADMIN)",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}
