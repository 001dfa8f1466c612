//! Each framework's server on an ephemeral port (of loopback, unless a test
//! asks for another address), serving one handler on every path, with the
//! framework's own graceful shutdown.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ssekit::SsePublisher;
use tokio::sync::oneshot;

/// A handler written once against [`SsePublisher`], as an application would.
///
/// A trait rather than a closure because a closure cannot be generic over the
/// publisher type, and every test mounts the same handler on four frameworks.
pub trait Handler: Clone + Send + Sync + 'static {
    /// Answers one request.
    fn handle<P: SsePublisher>(&self, publisher: P) -> P::Response;
}

/// The handler most tests need: every request subscribes to `topic` on
/// `hub`, resuming after the client's `Last-Event-ID`.
#[derive(Clone)]
pub struct Subscribe {
    /// The hub subscribed to.
    pub hub: ssekit::hub::Hub,
    /// The topic every stream follows.
    pub topic: &'static str,
}

impl Handler for Subscribe {
    fn handle<P: SsePublisher>(&self, publisher: P) -> P::Response {
        let subscription = self.hub.subscribe(self.topic, publisher.last_event_id());
        publisher.publish(subscription)
    }
}

/// The frameworks with an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// axum 0.8 with `ssekit-axum`.
    Axum,
    /// actix-web 4 with `ssekit-actix`.
    Actix,
    /// warp 0.4 with `ssekit-warp`.
    Warp,
    /// poem 3 with `ssekit-poem`.
    Poem,
    /// Plain hyper 1 with `ssekit-hyper`, one connection task per client
    /// and hyper-util's graceful shutdown. (The reliability suites'
    /// [`per_framework!`](crate::per_framework) runs the other four; its
    /// `with_hyper` form adds this one.)
    Hyper,
}

impl Framework {
    /// All five.
    pub const ALL: [Framework; 5] = [
        Framework::Axum,
        Framework::Actix,
        Framework::Warp,
        Framework::Poem,
        Framework::Hyper,
    ];
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
            Framework::Warp => "warp",
            Framework::Poem => "poem",
            Framework::Hyper => "hyper",
        })
    }
}

/// Listen backlog: the shutdown test opens thousands of connections at once,
/// and the usual 1024 would turn the overflow into 1 s SYN retransmissions.
const BACKLOG: u32 = 4096;

/// A running server. Dropping it stops the server abruptly; [`shutdown`]
/// stops it gracefully.
///
/// [`shutdown`]: Server::shutdown
pub struct Server {
    framework: Framework,
    addr: SocketAddr,
    stop: Option<Stop>,
}

enum Stop {
    /// axum, warp, poem: run on the caller's Tokio runtime; the sender starts
    /// the graceful shutdown, the task ends when it is complete.
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
        Self::start_tuned(framework, handler, Listen::default()).await
    }

    /// Like [`start`](Self::start), with [`ssekit::tcp::set_stall_timeout`]
    /// set on the listening socket (accepted connections inherit it).
    pub async fn start_with_stall_timeout<H: Handler>(
        framework: Framework,
        handler: H,
        stall_timeout: Duration,
    ) -> Server {
        let listen = Listen {
            stall: Some(stall_timeout),
            ..Listen::default()
        };
        Self::start_tuned(framework, handler, listen).await
    }

    /// Like [`start_with_stall_timeout`](Self::start_with_stall_timeout), on
    /// `ip` instead of loopback: for clients in another network namespace
    /// ([`crate::RemoteHost`]).
    pub async fn start_on<H: Handler>(
        framework: Framework,
        handler: H,
        ip: Ipv4Addr,
        stall_timeout: Duration,
    ) -> Server {
        let listen = Listen {
            ip,
            stall: Some(stall_timeout),
            ..Listen::default()
        };
        Self::start_tuned(framework, handler, listen).await
    }

    /// Like [`start`](Self::start), on a given loopback `port`: for a server
    /// restarted where its clients will look for it. Binding is retried for a
    /// few seconds, while the previous server's socket goes away.
    pub async fn start_at<H: Handler>(framework: Framework, handler: H, port: u16) -> Server {
        let listen = Listen {
            port,
            ..Listen::default()
        };
        Self::start_tuned(framework, handler, listen).await
    }

    async fn start_tuned<H: Handler>(framework: Framework, handler: H, listen: Listen) -> Server {
        match framework {
            Framework::Axum => start_axum(handler, listen),
            Framework::Actix => start_actix(handler, listen).await,
            Framework::Warp => start_warp(handler, listen),
            Framework::Poem => start_poem(handler, listen),
            Framework::Hyper => start_hyper(handler, listen),
        }
    }

    /// Which framework this is.
    pub fn framework(&self) -> Framework {
        self.framework
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port` + `path_and_query`.
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

/// A listener for actix, which takes a std one: same settings as [`tokio_listener`].
fn std_listener(listen: Listen) -> std::net::TcpListener {
    let (listener, _) = tokio_listener(listen);
    let listener = listener.into_std().expect("a std listener");
    listener
        .set_nonblocking(false)
        .expect("blocking mode, as actix expects");
    listener
}

/// Where a server listens, and its stall timeout if any.
#[derive(Debug, Clone, Copy)]
struct Listen {
    ip: Ipv4Addr,
    /// 0 for an ephemeral one.
    port: u16,
    stall: Option<Duration>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            ip: Ipv4Addr::LOCALHOST,
            port: 0,
            stall: None,
        }
    }
}

fn tokio_listener(listen: Listen) -> (tokio::net::TcpListener, SocketAddr) {
    let listener = bind(listen);
    if let Some(timeout) = listen.stall {
        ssekit::tcp::set_stall_timeout(&listener, timeout).expect("TCP_USER_TIMEOUT");
    }
    let addr = listener.local_addr().expect("a local address");
    (listener, addr)
}

/// A listening socket; a given port is retried for 5 s, since the server
/// that had it may still be letting it go.
fn bind(listen: Listen) -> tokio::net::TcpListener {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        let bound = socket
            .bind(SocketAddr::from((listen.ip, listen.port)))
            .and_then(|()| socket.listen(BACKLOG));
        match bound {
            Ok(listener) => return listener,
            Err(error) if listen.port == 0 || std::time::Instant::now() > deadline => {
                panic!("cannot listen on port {}: {error}", listen.port)
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn spawn_tokio<F>(
    framework: Framework,
    addr: SocketAddr,
    serve: F,
    signal: oneshot::Sender<()>,
) -> Server
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    Server {
        framework,
        addr,
        stop: Some(Stop::Tokio {
            signal,
            task: tokio::spawn(serve),
        }),
    }
}

fn start_axum<H: Handler>(handler: H, listen: Listen) -> Server {
    let (listener, addr) = tokio_listener(listen);
    let app = axum::Router::new().fallback(move |publisher: ssekit_axum::Publisher| {
        let handler = handler.clone();
        async move { handler.handle(publisher) }
    });
    let (signal, stopped) = oneshot::channel::<()>();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.await;
    });
    spawn_tokio(
        Framework::Axum,
        addr,
        async move {
            serve.await.expect("axum::serve only fails on accept");
        },
        signal,
    )
}

fn start_warp<H: Handler>(handler: H, listen: Listen) -> Server {
    use warp::Filter;
    let (listener, addr) = tokio_listener(listen);
    let routes = warp::any()
        .and(ssekit_warp::publisher())
        .map(move |publisher: ssekit_warp::Publisher| handler.handle(publisher));
    let (signal, stopped) = oneshot::channel::<()>();
    let serve = warp::serve(routes)
        .incoming(listener)
        .graceful(async move {
            let _ = stopped.await;
        })
        .run();
    spawn_tokio(Framework::Warp, addr, serve, signal)
}

fn start_poem<H: Handler>(handler: H, listen: Listen) -> Server {
    let (listener, addr) = tokio_listener(listen);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).expect("a poem acceptor");
    let app = ssekit_poem::endpoint(move |publisher| {
        let handler = handler.clone();
        async move { handler.handle(publisher) }
    });
    let (signal, stopped) = oneshot::channel::<()>();
    let serve = poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        app,
        async move {
            let _ = stopped.await;
        },
        // No forced deadline: the tests measure how long a graceful shutdown
        // takes, which a timeout here would hide.
        None,
    );
    spawn_tokio(
        Framework::Poem,
        addr,
        async move {
            serve.await.expect("poem's server only fails on accept");
        },
        signal,
    )
}

fn start_hyper<H: Handler>(handler: H, listen: Listen) -> Server {
    use hyper_util::rt::TokioIo;
    use hyper_util::server::graceful::GracefulShutdown;

    let (listener, addr) = tokio_listener(listen);
    let (signal, mut stopped) = oneshot::channel::<()>();
    let serve = async move {
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let handler = handler.clone();
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let response = handler.handle(ssekit_hyper::Publisher::new(&request));
                            async move { Ok::<_, std::convert::Infallible>(response) }
                        },
                    );
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
                _ = &mut stopped => break,
            }
        }
        // Stop listening at once, as the frameworks do, then let open
        // responses finish.
        drop(listener);
        graceful.shutdown().await;
    };
    spawn_tokio(Framework::Hyper, addr, serve, signal)
}

async fn start_actix<H: Handler>(handler: H, listen: Listen) -> Server {
    let (started, on_start) = oneshot::channel();
    let (finished, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("actix-system".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            let result = system.block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    let handler = handler.clone();
                    actix_web::App::new().default_service(actix_web::web::to(
                        move |publisher: ssekit_actix::Publisher| {
                            let handler = handler.clone();
                            async move { handler.handle(publisher) }
                        },
                    ))
                })
                .workers(2)
                .disable_signals()
                // As the README recommends for SSE: notice a client's FIN at once.
                .h1_allow_half_closed(false)
                .backlog(BACKLOG)
                .listen(std_listener(listen))
                .expect("listen on an ephemeral loopback port");
                let addr = server.addrs()[0];
                let server = server.run();
                let _ = started.send((addr, server.handle()));
                server.await
            });
            if let Err(error) = result {
                eprintln!("actix server failed: {error}");
            }
            let _ = finished.send(());
        })
        .expect("a thread for the actix system");
    let (addr, handle) = on_start.await.expect("the actix server starts");
    Server {
        framework: Framework::Actix,
        addr,
        stop: Some(Stop::Actix { handle, done }),
    }
}
