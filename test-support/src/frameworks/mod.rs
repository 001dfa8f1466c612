//! One module per framework: how it serves a [`Handler`], nothing else.

mod actix;
mod axum;
mod hyper;
mod poem;
mod rocket;
mod salvo;
mod warp;

use crate::{Framework, Handler, Options, Server};

pub(crate) async fn start<H: Handler>(
    framework: Framework,
    handler: H,
    options: Options,
) -> Server {
    match framework {
        Framework::Axum => axum::start(handler, options),
        Framework::Actix => actix::start(handler, options).await,
        Framework::Warp => warp::start(handler, options),
        Framework::Poem => poem::start(handler, options),
        Framework::Hyper => hyper::start(handler, options),
        Framework::Rocket => rocket::start(handler, options).await,
        Framework::Salvo => salvo::start(handler, options),
    }
}
