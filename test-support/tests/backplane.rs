//! The backplane suite (`ssekit_test_support::backplane`) against every
//! broadcaster: the same cases, over real HTTP, on the in-process hub and on
//! each backplane, with the brokers started by the tests.

use std::future::Future;
use std::sync::Mutex;

use ssekit_nats::testing::NatsServer;
use ssekit_nats::{NatsHub, NatsHubConfig};
use ssekit_redis::testing::{RedisCluster, RedisServer};
use ssekit_redis::{RedisHub, RedisHubConfig};
use ssekit_test_support::backplane::{self, Backplane, InProcess};
use ssekit_test_support::runtime;

/// NATS JetStream: a `nats-server -js` of the test's own, on a free port.
struct Nats {
    server: Mutex<NatsServer>,
}

impl Nats {
    fn start() -> Self {
        Self {
            server: Mutex::new(NatsServer::start().expect("nats-server starts (is it installed?)")),
        }
    }
}

impl Backplane for Nats {
    type Node = NatsHub;

    fn name(&self) -> &'static str {
        "NATS JetStream"
    }

    fn nodes(&self, count: usize, history: usize) -> impl Future<Output = Vec<NatsHub>> + Send {
        let url = self.server.lock().unwrap().url();
        async move {
            let mut nodes = Vec::new();
            for _ in 0..count {
                let config = NatsHubConfig::default().with_max_messages_per_topic(history as u64);
                nodes.push(
                    NatsHub::connect(&url, config)
                        .await
                        .expect("connect to NATS"),
                );
            }
            nodes
        }
    }

    fn kill_broker(&self) -> bool {
        self.server.lock().unwrap().kill();
        true
    }

    fn restart_broker(&self) {
        self.server
            .lock()
            .unwrap()
            .restart()
            .expect("the broker restarts");
    }
}

macro_rules! cases {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[test]
            fn every_node_delivers_every_event_once_in_one_order() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::every_node_delivers_every_event_once_in_one_order(&backplane).await;
                });
            }

            #[test]
            fn resuming_on_another_node_while_publishing_loses_and_repeats_nothing() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::resuming_on_another_node_while_publishing_loses_and_repeats_nothing(
                        &backplane,
                    )
                    .await;
                });
            }

            #[test]
            fn an_unknown_id_gets_an_unknown_gap_then_live() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::an_unknown_id_gets_an_unknown_gap_then_live(&backplane).await;
                });
            }

            #[test]
            fn a_trimmed_id_gets_an_expired_gap_then_what_is_left() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::a_trimmed_id_gets_an_expired_gap_then_what_is_left(&backplane).await;
                });
            }

            #[test]
            fn three_topics_on_one_stream_resume_exactly_on_another_node() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::three_topics_on_one_stream_resume_exactly_on_another_node(
                        &backplane,
                    )
                    .await;
                });
            }
        }
    };
}

/// Redis Streams: a `redis-server` of the test's own, on a free port.
struct Redis {
    server: Mutex<RedisServer>,
}

impl Redis {
    fn start() -> Self {
        Self {
            server: Mutex::new(
                RedisServer::start().expect("redis-server starts (is it installed?)"),
            ),
        }
    }
}

impl Backplane for Redis {
    type Node = RedisHub;

    fn name(&self) -> &'static str {
        "Redis Streams"
    }

    fn nodes(&self, count: usize, history: usize) -> impl Future<Output = Vec<RedisHub>> + Send {
        let url = self.server.lock().unwrap().url();
        async move {
            let mut nodes = Vec::new();
            for _ in 0..count {
                // Redis trims approximately (`MAXLEN ~`), in whole nodes of
                // about 100 entries: more than `history` may be kept.
                let config = RedisHubConfig::default().with_max_len(history);
                nodes.push(
                    RedisHub::connect(&url, config)
                        .await
                        .expect("connect to Redis"),
                );
            }
            nodes
        }
    }

    fn kill_broker(&self) -> bool {
        self.server.lock().unwrap().kill();
        true
    }

    fn restart_broker(&self) {
        self.server
            .lock()
            .unwrap()
            .restart()
            .expect("the broker restarts");
    }
}

/// Redis Cluster: three masters of the test's own, on free ports. The
/// broker killed and restarted is the whole cluster (every master at once):
/// that is what makes every topic's publish fail, whichever shard holds it.
/// One master down while the others carry on is
/// `sse-redis/tests/cluster.rs::a_master_killed_and_restarted_fails_its_publishes_fast_then_loses_nothing`.
struct RedisClusterBackplane {
    cluster: Mutex<RedisCluster>,
}

impl RedisClusterBackplane {
    fn start() -> Self {
        Self {
            cluster: Mutex::new(
                RedisCluster::start().expect("a Redis Cluster starts (is redis-server installed?)"),
            ),
        }
    }
}

impl Backplane for RedisClusterBackplane {
    type Node = RedisHub;

    fn name(&self) -> &'static str {
        "Redis Cluster"
    }

    fn nodes(&self, count: usize, history: usize) -> impl Future<Output = Vec<RedisHub>> + Send {
        let urls = self.cluster.lock().unwrap().urls();
        async move {
            let mut nodes = Vec::new();
            for _ in 0..count {
                let config = RedisHubConfig::default().with_max_len(history);
                nodes.push(
                    RedisHub::connect_cluster(&urls, config)
                        .await
                        .expect("connect to the Redis Cluster"),
                );
            }
            nodes
        }
    }

    fn kill_broker(&self) -> bool {
        self.cluster.lock().unwrap().kill_all();
        true
    }

    fn restart_broker(&self) {
        self.cluster
            .lock()
            .unwrap()
            .restart_all()
            .expect("the cluster restarts");
    }
}

/// The cases that need a broker in hand (down, restarted).
macro_rules! broker_cases {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[test]
            fn with_the_broker_down_publish_fails_fast_streams_stay_up_and_nodes_recover() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::with_the_broker_down_publish_fails_fast_streams_stay_up_and_nodes_recover(
                        &backplane,
                    )
                    .await;
                });
            }

            #[test]
            fn acknowledged_events_survive_a_broker_restart() {
                runtime().block_on(async {
                    let backplane = $make;
                    backplane::acknowledged_events_survive_a_broker_restart(&backplane).await;
                });
            }
        }
    };
}

cases!(in_process, InProcess);
cases!(redis, Redis::start());
broker_cases!(redis_broker, Redis::start());
cases!(redis_cluster, RedisClusterBackplane::start());
broker_cases!(redis_cluster_broker, RedisClusterBackplane::start());
cases!(nats, Nats::start());
broker_cases!(nats_broker, Nats::start());
