//! What differs between one Redis and a Redis Cluster, behind three small
//! types, so that the hub, the feed task and the replay have one code path:
//!
//! * [`Commands`], the command connection: a [`ConnectionManager`] to one
//!   Redis, or a cluster connection that routes each command to the master
//!   of its key's slot (one multiplexed connection per master).
//! * [`FeedLink`], the pub/sub connection: `SUBSCRIBE` on one Redis, sharded
//!   pub/sub (`SSUBSCRIBE`) on a cluster, so a topic's notices come from the
//!   shard that holds its stream.
//! * [`Endpoint`], where to connect the pub/sub connection (again).
//!
//! The publish script differs only by `PUBLISH` or `SPUBLISH` (see
//! `hub.rs`).

use std::time::Duration;

use futures_util::future::join_all;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use crate::error::{within, Error};

/// The node's command connection.
#[derive(Clone)]
pub(crate) enum Commands {
    /// One Redis.
    Single(ConnectionManager),
    /// A Redis Cluster: every command goes to its key's master.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Commands::Single(connection) => connection.req_packed_command(cmd),
            Commands::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Commands::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Commands::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Commands::Single(connection) => connection.get_db(),
            Commands::Cluster(connection) => connection.get_db(),
        }
    }
}

impl Commands {
    /// Names the connection (`CLIENT SETNAME`; on every master in a cluster).
    pub(crate) async fn set_name(&self, name: &str, timeout: Duration) -> Result<(), Error> {
        let mut setname = redis::cmd("CLIENT");
        setname.arg("SETNAME").arg(name);
        match self {
            Commands::Single(connection) => {
                let mut connection = connection.clone();
                within(timeout, setname.query_async::<()>(&mut connection)).await
            }
            Commands::Cluster(connection) => {
                let mut connection = connection.clone();
                within(timeout, connection.route_command(setname, all_masters()))
                    .await
                    .map(drop)
            }
        }
    }

    /// Runs independent commands, each on its own key, and answers each on
    /// its own (a failed one fails alone). On one Redis they go in one
    /// pipeline; in a cluster a pipeline must stay within one slot, so each
    /// goes to its own slot's master, all at once (the cluster connection
    /// multiplexes them). The whole fails only if the connection does, or
    /// after `timeout`.
    pub(crate) async fn query_each<T: FromRedisValue + Send + 'static>(
        &self,
        commands: Vec<Cmd>,
        timeout: Duration,
    ) -> Result<Vec<RedisResult<T>>, Error> {
        match self {
            Commands::Single(connection) => {
                let mut pipe = redis::pipe();
                for command in commands {
                    pipe.add_command(command);
                }
                pipe.ignore_errors();
                let mut connection = connection.clone();
                within(
                    timeout,
                    pipe.query_async::<Vec<RedisResult<T>>>(&mut connection),
                )
                .await
            }
            Commands::Cluster(connection) => {
                let each = commands.into_iter().map(|command| {
                    let mut connection = connection.clone();
                    async move { command.query_async::<T>(&mut connection).await }
                });
                match tokio::time::timeout(timeout, join_all(each)).await {
                    Ok(replies) => Ok(replies),
                    Err(_) => Err(Error::Timeout(timeout)),
                }
            }
        }
    }
}

/// The node's pub/sub connection.
pub(crate) enum FeedLink {
    /// One RESP3 connection to one Redis.
    Single(MultiplexedConnection),
    /// A RESP3 cluster connection: one connection per master, which the
    /// library reconnects (and subscribes again) by itself, shard by shard.
    Cluster(ClusterConnection),
}

impl FeedLink {
    /// Whether a lost shard leaves the others (and the connection) up.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, FeedLink::Cluster(_))
    }

    /// Subscribes to the channels. `Err` if the connection itself failed;
    /// otherwise one answer per channel (in a cluster each channel is its own
    /// `SSUBSCRIBE`, to its own shard, so one shard down fails its channels
    /// only).
    pub(crate) async fn subscribe(
        &mut self,
        channels: &[String],
        timeout: Duration,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        match self {
            FeedLink::Single(connection) => {
                within(timeout, connection.subscribe(channels)).await?;
                Ok(channels.iter().map(|_| Ok(())).collect())
            }
            FeedLink::Cluster(connection) => {
                let each = channels.iter().map(|channel| {
                    let mut connection = connection.clone();
                    async move { within(timeout, connection.ssubscribe(channel)).await }
                });
                Ok(join_all(each).await)
            }
        }
    }

    /// Unsubscribes from the channels. `Err` if the connection failed (one
    /// Redis); in a cluster a shard that is down is let go of by itself.
    pub(crate) async fn unsubscribe(
        &mut self,
        channels: &[String],
        timeout: Duration,
    ) -> Result<(), Error> {
        match self {
            FeedLink::Single(connection) => within(timeout, connection.unsubscribe(channels)).await,
            FeedLink::Cluster(connection) => {
                let each = channels.iter().map(|channel| {
                    let mut connection = connection.clone();
                    async move { within(timeout, connection.sunsubscribe(channel)).await }
                });
                let _ = join_all(each).await;
                Ok(())
            }
        }
    }

    /// Checks the connection (in a cluster, every master's).
    pub(crate) async fn ping(&mut self, timeout: Duration) -> Result<(), Error> {
        let ping = redis::cmd("PING");
        match self {
            FeedLink::Single(connection) => {
                within(timeout, ping.query_async::<Value>(connection)).await?;
            }
            FeedLink::Cluster(connection) => {
                within(timeout, connection.route_command(ping, all_masters())).await?;
            }
        }
        Ok(())
    }

    /// Names the connection (`CLIENT SETNAME`; on every master in a cluster).
    pub(crate) async fn set_name(&mut self, name: &str, timeout: Duration) -> Result<(), Error> {
        let mut setname = redis::cmd("CLIENT");
        setname.arg("SETNAME").arg(name);
        match self {
            FeedLink::Single(connection) => {
                within(timeout, setname.query_async::<()>(connection)).await
            }
            FeedLink::Cluster(connection) => {
                within(timeout, connection.route_command(setname, all_masters()))
                    .await
                    .map(drop)
            }
        }
    }
}

/// A command for every master, which must all succeed.
pub(crate) fn all_masters() -> redis::cluster_routing::RoutingInfo {
    use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
    RoutingInfo::MultiNode((
        MultipleNodeRoutingInfo::AllMasters,
        Some(ResponsePolicy::AllSucceeded),
    ))
}

/// Where the node's connections go.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// One Redis.
    Single(redis::Client),
    /// A Redis Cluster, by some of its nodes (the rest are found from them).
    Cluster(Vec<redis::ConnectionInfo>),
}

impl Endpoint {
    /// A cluster client with the hub's timeouts. With `pushes` (the pub/sub
    /// connection) it speaks RESP3 and sends every push there, the library's
    /// disconnection notices and subscription confirmations included.
    pub(crate) fn cluster_client(
        nodes: &[redis::ConnectionInfo],
        timeout: Duration,
        pushes: Option<crate::pushes::PushSender>,
    ) -> RedisResult<ClusterClient> {
        let mut builder = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            // A master that is down fails its commands within the command
            // timeout: a couple of quick retries ride over a redirection,
            // not over an outage.
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(200);
        if let Some(pushes) = pushes {
            builder = builder
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(pushes);
        }
        builder.build()
    }
}
