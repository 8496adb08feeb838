//! `--metrics-bind`: Prometheus metrics on an address of their own, unauthenticated and off by
//! default, so they are never exposed with the API.
//!
//! Counters and histograms are recorded where things happen (requests in `rolemine-api`, jobs,
//! mining phases, imports and exports in `rolemine-worker`); the queue and the connection pool
//! are sampled at each scrape, so their gauges are as fresh as the scrape.

use std::net::SocketAddr;

use anyhow::Context;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use clap::Args;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rolemine_domain::JobKind;
use rolemine_store::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where metrics are served.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at `http://<address>/metrics` (unauthenticated: bind it to an
    /// address only the monitoring system reaches). Off by default.
    #[arg(long, env = "ROLEMINE_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
}

/// Histogram buckets, in seconds: from a fast request to a long mining phase.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 900.0,
];

/// Installs the recorder and serves `/metrics` until `stop` fires; `None` without
/// `--metrics-bind`.
pub async fn serve(
    args: &MetricsArgs,
    pool: PgPool,
    stop: &CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(bind) = args.metrics_bind else {
        return Ok(None);
    };
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} for metrics (--metrics-bind)"))?;
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .context("the metrics histogram buckets are invalid")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let (handle, pool) = (handle.clone(), pool.clone());
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    scrape(&handle, &pool).await,
                )
            }
        }),
    );
    tracing::info!(address = %bind, "metrics at http://{bind}/metrics");
    let stop = stop.clone();
    Ok(Some(tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the metrics server failed");
        }
    })))
}

/// Samples the queue and the pool, then renders everything.
async fn scrape(handle: &PrometheusHandle, pool: &PgPool) -> String {
    match rolemine_store::jobs::queue_depth(pool).await {
        Ok(depths) => {
            for kind in JobKind::ALL {
                let depth = depths.iter().find(|d| d.kind == *kind);
                metrics::gauge!("rolemine_jobs_queued", "kind" => kind.as_str())
                    .set(depth.map_or(0.0, |d| d.queued as f64));
                metrics::gauge!("rolemine_jobs_oldest_queued_seconds", "kind" => kind.as_str())
                    .set(depth.map_or(0.0, |d| d.oldest_seconds));
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot sample the job queue for metrics"),
    }
    let size = pool.size() as f64;
    let idle = pool.num_idle() as f64;
    metrics::gauge!("rolemine_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("rolemine_db_pool_connections", "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!("rolemine_db_pool_max_connections")
        .set(f64::from(pool.options().get_max_connections()));
    handle.run_upkeep();
    handle.render()
}
