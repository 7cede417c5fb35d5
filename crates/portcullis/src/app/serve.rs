//! Running the engine as a standalone server, with graceful shutdown on SIGINT/SIGTERM.

use super::Auth;
use std::net::SocketAddr;

/// Listens on `config.listen` and serves until SIGINT or SIGTERM.
pub async fn serve(auth: Auth) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(auth.config.listen).await?;
    serve_on(auth, listener).await
}

/// Serves on an already-bound listener (tests bind port 0 and read the address first).
pub async fn serve_on(auth: Auth, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!("portcullis listening on http://{addr} (auth routes at {})", auth.auth_url);
    let app = auth.router().into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
