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
    /// Redis closed a new connection at once with this error line, before
    /// any command was read: what it does when it has `maxclients` clients
    /// already (`ERR max number of clients reached`). Found by reading a
    /// fresh connection when connecting failed with a reset or closed
    /// connection, which is how that refusal usually reaches a client that
    /// had already sent its handshake.
    Refused(String),
    /// A command could not reach Redis (`error`: a timeout or a dropped
    /// connection) while the node cannot connect to it: `cause` is why its
    /// last attempt failed (e.g. [`Refused`](Error::Refused), or the
    /// credentials being refused).
    Unreachable {
        /// What the command got.
        error: Box<Error>,
        /// Why the node's last attempt to connect failed.
        cause: Box<Error>,
    },
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
            Error::Refused(line) => write!(f, "redis refused the connection: {line}"),
            Error::Unreachable { error, cause } => {
                write!(
                    f,
                    "{error}; the node's last attempt to connect to redis failed: {cause}"
                )
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
            Error::Unreachable { cause, .. } => Some(cause.as_ref()),
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
            Error::Refused(line) => Error::Refused(line.clone()),
            Error::Unreachable { error, cause } => Error::Unreachable {
                error: Box::new(error.duplicate()),
                cause: Box::new(cause.duplicate()),
            },
            Error::Shutdown => Error::Shutdown,
        }
    }
}

impl Error {
    /// A timeout or a lost connection: what a command gets when Redis cannot
    /// be reached, with no answer of Redis's own.
    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            // A cluster's shard that is down, moving or refusing for now.
            Error::Redis(error) => {
                error.is_io_error() || error.is_unrecoverable_error() || error.is_cluster_error()
            }
            _ => false,
        }
    }
}

/// After connecting to `addr` failed with a dropped connection: reads what
/// Redis says on a new connection before we say anything. Redis at
/// `maxclients` writes its error line and closes; a client that sent its
/// handshake first often gets a reset instead of that line.
pub(crate) async fn refusal(addr: &redis::ConnectionAddr, timeout: Duration) -> Option<Error> {
    use tokio::io::AsyncReadExt;
    let redis::ConnectionAddr::Tcp(host, port) = addr else {
        return None;
    };
    let read = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), *port))
            .await
            .ok()?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 512 {
            match stream.read(&mut byte).await {
                Ok(1) if byte[0] == b'\n' => break,
                Ok(1) => line.push(byte[0]),
                _ => break,
            }
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_owned();
        line.strip_prefix('-')
            .map(|line| Error::Refused(line.to_owned()))
    };
    // An accepting Redis says nothing first: then it is not that.
    tokio::time::timeout(timeout.min(Duration::from_millis(500)), read)
        .await
        .ok()
        .flatten()
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
