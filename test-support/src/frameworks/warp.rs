use ssekit_conformance::COMPRESSED_PREFIX;
use ssekit_warp::Publisher;
use warp::{Filter, Reply};

use crate::{Framework, Handler, Options, Server};

pub(super) fn start<H: Handler>(handler: H, options: Options) -> Server {
    let listener = options.listener();
    let addr = listener.local_addr().expect("a local address");
    let method = if options.get_only {
        warp::get().boxed()
    } else {
        warp::any().boxed()
    };
    let plain = {
        let handler = handler.clone();
        method
            .clone()
            .and(ssekit_warp::publisher())
            .then(move |publisher: Publisher| {
                let handler = handler.clone();
                async move { handler.handle(publisher).await }
            })
    };
    // Under the prefix the gzip filter wraps the same handler; without
    // compression the prefix is an ordinary path.
    let compressed = warp::path(COMPRESSED_PREFIX.trim_start_matches('/'))
        .and(warp::any().map(move || options.compression))
        .and(method)
        .and(ssekit_warp::publisher())
        .and_then(move |compress: bool, publisher: Publisher| {
            let handler = handler.clone();
            async move {
                if compress {
                    Ok(handler.handle(publisher).await)
                } else {
                    Err(warp::reject())
                }
            }
        })
        .with(warp::compression::gzip());
    let routes = compressed
        .map(Reply::into_response)
        .or(plain.map(Reply::into_response));
    Server::spawn_tokio(Framework::Warp, addr, |stopped| {
        warp::serve(routes)
            .incoming(listener)
            .graceful(async move {
                let _ = stopped.await;
            })
            .run()
    })
}
