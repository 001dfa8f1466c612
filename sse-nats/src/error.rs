//! What can go wrong talking to NATS.

use std::fmt;
use std::time::Duration;

/// A failed connect, publish or subscription start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// NATS answered with an error, or a request failed.
    Nats(async_nats::Error),
    /// NATS did not answer within the configured request timeout.
    Timeout(Duration),
    /// The client is not connected to NATS now (it reconnects by itself);
    /// nothing was sent.
    Disconnected,
    /// The hub was shut down.
    Shutdown,
    /// The stream (named here) exists without the `RePublish` setting this
    /// crate's live feed needs, and the server will not add it in place
    /// (nats-server 2.9 cannot change `RePublish` on an existing stream; a
    /// stream made by ssekit-nats 0.x before the live feed used it). Delete
    /// and recreate the stream (`nats stream rm`, losing its history), or
    /// use another stream name and subject prefix.
    IncompatibleStream(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Nats(error) => write!(f, "nats: {error}"),
            Error::Timeout(after) => write!(f, "nats did not answer within {after:?}"),
            Error::Disconnected => f.write_str("not connected to nats"),
            Error::Shutdown => f.write_str("the hub is shut down"),
            Error::IncompatibleStream(stream) => write!(
                f,
                "stream {stream} exists without the RePublish setting the hub needs, \
                 and the server cannot add it in place: recreate it or use another stream"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Nats(error) => Some(&**error),
            _ => None,
        }
    }
}

/// Runs a NATS request with a deadline, so an unreachable server gives an
/// error instead of a hang.
pub(crate) async fn within<T, E>(
    timeout: Duration,
    request: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Error>
where
    E: Into<async_nats::Error>,
{
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result.map_err(|error| Error::Nats(error.into())),
        Err(_) => Err(Error::Timeout(timeout)),
    }
}
