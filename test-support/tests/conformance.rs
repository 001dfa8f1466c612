//! The shared conformance suite against every adapter, over real HTTP: each
//! framework serves the conformance routes with its adapter, plain and under
//! the compressed prefix behind its stock compression middleware. Reports
//! land in `target/tmp/conformance/<framework>.json` for the README matrix.

use std::sync::Mutex;

use ssekit_test_support::{per_framework, Conformance, Framework, Options, Server};

/// One framework at a time: the suite has timing cases, and two cores.
static ALONE: Mutex<()> = Mutex::new(());

fn run<Fut: std::future::Future<Output = ()>>(framework: Framework, body: fn(Framework) -> Fut) {
    let _alone = ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ssekit_test_support::runtime().block_on(body(framework));
}

async fn suite(framework: Framework) {
    let mut options = Options::new().with_h2c().with_get_only();
    let mut config = ssekit_conformance::Config::default();
    // Rocket ships no compression: the case is skipped, and says so.
    if framework.has_stock_compression() {
        options = options.with_compression();
        config.compressed_prefix = Some(ssekit_conformance::COMPRESSED_PREFIX.into());
    }
    let server = Server::start_with(framework, Conformance::default(), options).await;
    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    ssekit_conformance::assert_conformance_with(
        &server.url(""),
        framework.name(),
        &reports,
        &config,
    )
    .await;
}

per_framework!(run; conformance => suite);
