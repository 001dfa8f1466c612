//! A running server and how it listens.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::{frameworks, Framework, Handler};

/// Listen backlog: the shutdown test opens thousands of connections at once,
/// and the usual 1024 would turn the overflow into 1 s SYN retransmissions.
pub const BACKLOG: u32 = 4096;

/// How a [`Server`] listens and what it mounts.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Options {
    pub(crate) ip: Ipv4Addr,
    /// 0 for an ephemeral one.
    pub(crate) port: u16,
    pub(crate) stall_timeout: Option<Duration>,
    pub(crate) compression: bool,
    pub(crate) get_only: bool,
    pub(crate) h2c: bool,
    pub(crate) workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ip: Ipv4Addr::LOCALHOST,
            port: 0,
            stall_timeout: None,
            compression: false,
            get_only: false,
            h2c: false,
            workers: 2,
        }
    }
}

impl Options {
    /// Loopback, no stall timeout, no compression, no h2c on actix-web, two
    /// actix workers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listens on `ip` instead of loopback: for clients in another network
    /// namespace.
    pub fn with_ip(mut self, ip: Ipv4Addr) -> Self {
        self.ip = ip;
        self
    }

    /// Listens on `port` instead of an ephemeral one: for a server restarted
    /// where its clients will look for it. Binding is retried for a few
    /// seconds, while the previous server's socket goes away.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets [`ssekit::tcp::set_stall_timeout`] on the listening socket
    /// (accepted connections inherit it).
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = Some(timeout);
        self
    }

    /// Also mounts the handler under [`ssekit_conformance::COMPRESSED_PREFIX`]
    /// behind the framework's stock compression middleware, as the
    /// conformance suite expects.
    pub fn with_compression(mut self) -> Self {
        self.compression = true;
        self
    }

    /// Mounts the handler for `GET` only, as an application mounts an event
    /// stream (other methods get 405 from the framework; plain hyper, with no
    /// router, answers them 405 itself). By default every method reaches it.
    pub fn with_get_only(mut self) -> Self {
        self.get_only = true;
        self
    }

    /// Serves HTTP/2 without TLS (h2c, prior knowledge) next to HTTP/1.1 on
    /// actix-web too; the other frameworks always do. Off by default because
    /// actix-web's h2c listener keeps idle keep-alive connections open
    /// through a graceful shutdown, which then waits for its 30 s timeout.
    pub fn with_h2c(mut self) -> Self {
        self.h2c = true;
        self
    }

    /// Worker threads of the frameworks that run their own (actix-web); the
    /// others run on the caller's Tokio runtime.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// A listener as these options say, with [`BACKLOG`].
    pub(crate) fn listener(&self) -> tokio::net::TcpListener {
        let listener = self.bind();
        if let Some(timeout) = self.stall_timeout {
            ssekit::tcp::set_stall_timeout(&listener, timeout).expect("TCP_USER_TIMEOUT");
        }
        listener
    }

    /// A listening socket; a given port is retried for 5 s, since the server
    /// that had it may still be letting it go.
    fn bind(&self) -> tokio::net::TcpListener {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            let bound = socket
                .bind(SocketAddr::from((self.ip, self.port)))
                .and_then(|()| socket.listen(BACKLOG));
            match bound {
                Ok(listener) => return listener,
                Err(error) if self.port == 0 || std::time::Instant::now() > deadline => {
                    panic!("cannot listen on port {}: {error}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The same, as the blocking std listener actix-web takes.
    pub(crate) fn std_listener(&self) -> std::net::TcpListener {
        let listener = self.listener().into_std().expect("a std listener");
        listener
            .set_nonblocking(false)
            .expect("blocking mode, as actix expects");
        listener
    }
}

/// A running server. Dropping it stops the server abruptly; [`shutdown`]
/// stops it gracefully.
///
/// [`shutdown`]: Server::shutdown
pub struct Server {
    pub(crate) framework: Framework,
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Option<Stop>,
}

pub(crate) enum Stop {
    /// Servers on the caller's Tokio runtime: the sender starts the graceful
    /// shutdown, the task ends when it is complete.
    Tokio {
        signal: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    },
    /// actix-web runs its own threads and runtimes, as in production.
    Actix {
        handle: actix_web::dev::ServerHandle,
        done: oneshot::Receiver<()>,
    },
}

impl Server {
    /// Starts `framework` serving `handler` on every path of 127.0.0.1:port.
    /// Must be called inside a multi-threaded Tokio runtime.
    pub async fn start<H: Handler>(framework: Framework, handler: H) -> Server {
        Self::start_with(framework, handler, Options::default()).await
    }

    /// Like [`start`](Self::start), as `options` say.
    pub async fn start_with<H: Handler>(
        framework: Framework,
        handler: H,
        options: Options,
    ) -> Server {
        frameworks::start(framework, handler, options).await
    }

    /// A server on the caller's runtime: `serve` runs until `stopped` fires,
    /// then finishes its graceful shutdown.
    pub(crate) fn spawn_tokio<F>(
        framework: Framework,
        addr: SocketAddr,
        serve: impl FnOnce(oneshot::Receiver<()>) -> F,
    ) -> Server
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (signal, stopped) = oneshot::channel();
        Server {
            framework,
            addr,
            stop: Some(Stop::Tokio {
                signal,
                task: tokio::spawn(serve(stopped)),
            }),
        }
    }

    /// Which framework this is.
    #[must_use]
    pub fn framework(&self) -> Framework {
        self.framework
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port` + `path_and_query`.
    #[must_use]
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Starts the framework's graceful shutdown (stop accepting, let open
    /// responses finish) and resolves when the server has stopped, or fails
    /// after `limit`.
    pub async fn shutdown(mut self, limit: Duration) -> Result<(), String> {
        let framework = self.framework;
        let stopped = async {
            match self.stop.take().expect("stopped once") {
                Stop::Tokio { signal, task } => {
                    let _ = signal.send(());
                    task.await
                        .map_err(|e| format!("the server task failed: {e}"))
                }
                Stop::Actix { handle, done } => {
                    handle.stop(true).await;
                    done.await
                        .map_err(|_| "the actix system thread died".to_owned())
                }
            }
        };
        tokio::time::timeout(limit, stopped)
            .await
            .map_err(|_| format!("{framework}'s graceful shutdown took more than {limit:?}"))?
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match self.stop.take() {
            Some(Stop::Tokio { task, .. }) => task.abort(),
            // The command is sent at once; nothing needs to wait for it.
            Some(Stop::Actix { handle, .. }) => drop(handle.stop(false)),
            None => {}
        }
    }
}
