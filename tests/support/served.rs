//! A router served in-process on 127.0.0.1:0 by `vouch::server::serve`, with a client for it.
//! Test files add their own request helpers in an `impl Served` of their own.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vouch::server::{self, ServerError};

/// A running server.
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client for it.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Served {
    /// Serve `router` on a free loopback port until [`Served::shutdown`].
    pub async fn start(router: axum::Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Served {
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    /// Shut down gracefully and check the server ended without an error.
    pub async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}
