//! A socket setting that bounds how long a vanished or stalled client can
//! hold a stream.
//!
//! An SSE response never ends on its own, so the server learns that a client
//! is gone only when a write fails. A client that resets or closes its
//! connection makes the next write fail at once. A client that silently
//! vanishes (network gone, machine asleep) or stays connected but stops
//! reading does not: TCP keeps retransmitting, or probing a zero window, for
//! many minutes by default, and the stream, its subscription and its buffers
//! stay. [`set_stall_timeout`] sets `TCP_USER_TIMEOUT`: once data has waited
//! that long for the client to acknowledge it, the kernel aborts the
//! connection, the framework drops the response, and the handler's source is
//! dropped (a [`Sender`](crate::channel::Sender) sees `closed()`, a hub
//! subscriber leaves).
//!
//! With the keep-alive every `K` and a stall timeout `T`, a client that
//! vanishes is noticed within about `K + T`; one that stops reading, within
//! `T` of its buffers filling (a busy stream fills them in moments; an idle
//! one only with keep-alives, so slowly that it costs nothing but those
//! buffers meanwhile).
//!
//! Linux only: elsewhere the operating system's own retransmission limits
//! apply.

use std::io;
use std::time::Duration;

/// What [`set_stall_timeout`] is usually given: 15 s, so with the default
/// 15 s keep-alive a vanished client is noticed within about 30 s.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Sets `TCP_USER_TIMEOUT` on `socket`: data unacknowledged for `timeout`
/// aborts the connection.
///
/// Set it on the listening socket before serving: on Linux, accepted
/// connections inherit it, so every framework is covered without a hook.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// ssekit::tcp::set_stall_timeout(&listener, ssekit::tcp::DEFAULT_STALL_TIMEOUT)?;
/// // axum::serve(listener, app), warp::serve(..).incoming(listener),
/// // poem's TcpAcceptor::from_tokio(listener), actix's listen(listener.into_std()?)
/// # Ok(()) }
/// ```
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set_stall_timeout<S: std::os::fd::AsFd>(socket: &S, timeout: Duration) -> io::Result<()> {
    socket2::SockRef::from(socket).set_tcp_user_timeout(Some(timeout))
}

/// On systems without `TCP_USER_TIMEOUT`, does nothing and says so.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn set_stall_timeout<S>(_socket: &S, _timeout: Duration) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "TCP_USER_TIMEOUT is only available on Linux",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    use super::*;

    /// The kernel aborts a connection whose peer stopped reading, once the
    /// buffers are full, and accepted sockets inherit the setting.
    #[test]
    fn a_reader_that_stopped_is_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        set_stall_timeout(&listener, Duration::from_millis(500)).unwrap();
        let client =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        client
            .connect(&listener.local_addr().unwrap().into())
            .unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let started = Instant::now();
        let error = loop {
            match accepted.write(b": keep-alive\n\n") {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => break e,
            }
            assert!(started.elapsed() < Duration::from_secs(30), "never cut off");
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop::<TcpStream>(client.into());
    }
}
