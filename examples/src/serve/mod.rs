//! Serving an [`App`] on each framework: the only framework-specific code of
//! the examples (none of it touches SSE beyond handing over the publisher).

mod actix;
mod axum;
mod poem;
mod warp;

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::App;

/// The frameworks an app can be served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Framework {
    /// axum 0.8 with `ssekit-axum`.
    Axum,
    /// actix-web 4 with `ssekit-actix`.
    Actix,
    /// warp 0.4 with `ssekit-warp`.
    Warp,
    /// poem 3 with `ssekit-poem`.
    Poem,
}

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

const NOT_FOUND: &str = "not found";

/// What a request asks of the app; decided once here for every framework.
enum Route {
    Post,
    Page(&'static str),
    Stream,
    NotFound,
}

fn route<A: App>(app: &A, is_post: bool, path: &str) -> Route {
    if is_post {
        Route::Post
    } else if let Some(page) = app.page(path) {
        Route::Page(page)
    } else if app.is_stream(path) {
        Route::Stream
    } else {
        Route::NotFound
    }
}
