//! Serving an [`App`] on each framework, as its users write apps: its
//! router, its state and its JSON extractor. None of it touches SSE beyond
//! handing the publisher to the app.

mod actix;
mod axum;
mod hyper;
mod poem;
mod rocket;
mod salvo;
mod warp;

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::App;

pub use ssekit_test_support::Framework;

/// Serves `app` on `listener` until `shutdown` resolves, then shuts the app's
/// streams down and waits for the server to finish.
pub async fn serve<A: App>(
    app: A,
    framework: Framework,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = {
        let app = app.clone();
        async move {
            shutdown.await;
            app.shutdown();
        }
    };
    match framework {
        Framework::Axum => axum::serve(app, listener, stop).await,
        Framework::Actix => actix::serve(app, listener, stop).await,
        Framework::Warp => warp::serve(app, listener, stop).await,
        Framework::Poem => poem::serve(app, listener, stop).await,
        Framework::Hyper => hyper::serve(app, listener, stop).await,
        Framework::Rocket => rocket::serve(app, listener, stop).await,
        Framework::Salvo => salvo::serve(app, listener, stop).await,
    }
}

pub(crate) fn run_until_signal<A: App>(
    app: impl std::future::Future<Output = std::io::Result<A>>,
    framework: Framework,
    addr: SocketAddr,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let app = app.await?;
        let listener = TcpListener::bind(addr).await?;
        // Cut off clients that vanish without a FIN or RST, or stop reading.
        ssekit::tcp::set_stall_timeout(&listener, ssekit::tcp::DEFAULT_STALL_TIMEOUT)?;
        let local = listener.local_addr()?;
        println!("{framework:?} serving on http://{local}/ (Ctrl-C to stop)");
        serve(app, framework, listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
}
