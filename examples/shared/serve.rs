//! How every example HTTP server runs: bind loopback, announce the port, live as long as stdin.

use std::io::Write;

/// Binds 127.0.0.1:`port` (0 = any), prints `LISTENING <port>` (the tests wait for it) and serves
/// `router` until stdin closes. `name` prefixes error messages.
pub async fn serve_http(name: &str, port: u16, router: axum::Router) {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("{name}: cannot bind 127.0.0.1:{port}: {error}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("LISTENING {port}");
    let _ = std::io::stdout().flush();
    super::lifecycle::exit_when_stdin_closes();
    if let Err(error) = axum::serve(listener, router).await {
        eprintln!("{name}: {error}");
        std::process::exit(1);
    }
}
