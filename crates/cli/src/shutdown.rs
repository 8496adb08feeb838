//! Turning Ctrl-C, SIGTERM and SIGHUP into a cancellation token.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// A token that fires on the first SIGINT, SIGTERM or SIGHUP. SIGHUP (the terminal closed)
/// would otherwise kill the process outright and leave the embedded PostgreSQL running.
pub fn on_signal() -> anyhow::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let fire = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = interrupt.recv() => tracing::info!("interrupt received; shutting down"),
            _ = hangup.recv() => tracing::info!("hangup received; shutting down"),
        }
        fire.cancel();
    });
    Ok(token)
}
