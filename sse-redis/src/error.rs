//! What can go wrong talking to Redis.

use std::fmt;
use std::time::Duration;

/// A failed publish or subscription start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
    /// Redis did not answer within the configured command timeout.
    Timeout(Duration),
    /// The node's pub/sub connection to Redis is down (it is reconnecting):
    /// no new subscription can start on this node until it is back. Carries
    /// why the last attempt to connect failed, or why the connection was lost.
    Disconnected(Box<Error>),
    /// The hub was shut down.
    Shutdown,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Redis(error) => write!(f, "redis: {error}"),
            Error::Timeout(after) => write!(f, "redis did not answer within {after:?}"),
            Error::Disconnected(error) => {
                write!(f, "the node's pub/sub connection to redis is down: {error}")
            }
            Error::Shutdown => f.write_str("the hub is shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(error) => Some(error),
            Error::Disconnected(error) => Some(error.as_ref()),
            _ => None,
        }
    }
}

impl Error {
    /// The same error again, for each of several waiters.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::Redis(error) => Error::Redis(error.clone()),
            Error::Timeout(after) => Error::Timeout(*after),
            Error::Disconnected(cause) => Error::Disconnected(Box::new(cause.duplicate())),
            Error::Shutdown => Error::Shutdown,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(error: redis::RedisError) -> Self {
        Error::Redis(error)
    }
}

/// Runs a Redis command with a deadline, so an unreachable Redis gives an
/// error instead of a hang.
pub(crate) async fn within<T>(
    timeout: Duration,
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout, command).await {
        Ok(result) => result.map_err(Error::from),
        Err(_) => Err(Error::Timeout(timeout)),
    }
}
