//! `rolemine serve`.

use anyhow::Context;
use std::num::NonZeroU32;
use std::time::Duration;

use rolemine_api::{AppState, Auth, AuthSettings, PageCache, Uploads};
use rolemine_worker::Notifier;
use tokio::net::TcpListener;

use crate::args::ServeArgs;
use crate::commands::{demo, worker};
use crate::database::Database;
use crate::shutdown;

/// Serves the API (and a worker) until SIGINT/SIGTERM, then stops everything it started.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let stop = shutdown::on_signal()?;
    // Bind before touching the database so a taken port fails fast, before a cluster starts.
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let uploads = upload_settings(&args)?;
    let mailer = worker::mailer(&args.worker)?;
    let artifacts = args.artifacts.open(&args.database.data_dir)?;
    let database = Database::open(&args.database).await?;
    if args.demo {
        if let Err(err) = demo::load_if_empty(&database.pool).await {
            database.close().await?;
            return Err(err);
        }
        if let Err(err) =
            demo::client_if_none(&database.pool, args.bind, &args.database.data_dir).await
        {
            database.close().await?;
            return Err(err);
        }
    }
    let worker = (!args.no_worker).then(|| {
        let worker = worker::build(
            database.pool.clone(),
            &args.worker,
            artifacts.clone(),
            &args.artifacts,
        );
        let notifier = Notifier::new(database.pool.clone(), mailer, worker::NOTIFY_INTERVAL);
        let notifying = tokio::spawn(notifier.run(stop.child_token()));
        let sweeping = worker::sweeper(database.pool.clone(), &artifacts, &args.artifacts, &stop);
        (
            tokio::spawn(worker.run(stop.child_token())),
            notifying,
            sweeping,
        )
    });
    let state = match app_state(&args, &database, uploads, artifacts).await {
        Ok(state) => state,
        Err(err) => {
            database.close().await?;
            return Err(err);
        }
    };
    let metrics = match crate::telemetry::serve(&args.metrics, database.pool.clone(), &stop).await {
        Ok(metrics) => metrics,
        Err(err) => {
            database.close().await?;
            return Err(err);
        }
    };
    let request_pool = state.pool.clone();
    let app = rolemine_api::router(state);
    tracing::info!(
        address = %args.bind,
        "serving http://{0} (the console: http://{0}/ui/)",
        args.bind
    );
    // The peer address keys the token endpoint's failure throttle.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await
        .context("the HTTP server failed");
    stop.cancel();
    if let Some(task) = metrics {
        if let Err(err) = task.await {
            tracing::error!(error = %err, "the metrics task failed");
        }
    }
    if let Some((worker, notifying, sweeping)) = worker {
        for (task, name) in [
            (worker, "worker"),
            (notifying, "notifier"),
            (sweeping, "export sweeper"),
        ] {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "the {name} task failed");
            }
        }
    }
    request_pool.close().await;
    database.close().await?;
    served
}

/// Creates the upload directory and makes its path absolute: the path is recorded with each
/// import and read by workers in other processes.
fn upload_settings(args: &ServeArgs) -> anyhow::Result<Uploads> {
    let dir = args
        .upload_dir
        .clone()
        .unwrap_or_else(|| args.database.data_dir.join("uploads"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the upload directory {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve the upload directory {}", dir.display()))?;
    Ok(Uploads {
        dir,
        max_bytes: args.max_import_bytes,
    })
}

/// The API's state: the pool, limits, and token settings with the database's signing key.
async fn app_state(
    args: &ServeArgs,
    database: &Database,
    uploads: Uploads,
    artifacts: rolemine_artifacts::Artifacts,
) -> anyhow::Result<AppState> {
    let signing_key = rolemine_store::clients::signing_key(&database.pool)
        .await
        .context("cannot load the token signing key")?;
    let positive = |value: u32, flag: &str| {
        NonZeroU32::new(value).with_context(|| format!("{flag} must be at least 1"))
    };
    let auth = Auth::new(AuthSettings {
        signing_key,
        issuer: args.token_issuer.clone(),
        token_ttl: Duration::from_secs(args.token_ttl.max(1)),
        rate_per_second: positive(args.rate_limit, "--rate-limit")?,
        burst: positive(args.rate_burst, "--rate-burst")?,
        token_failures_per_minute: args.token_failures,
    })
    .context("cannot start the client-secret checking threads")?;
    let request_timeout = Duration::from_secs(args.request_timeout.max(1));
    Ok(AppState {
        pool: database.request_pool(request_timeout),
        uploads,
        auth,
        request_timeout,
        max_body_bytes: args.max_body_bytes,
        artifacts,
        pages: PageCache::new(args.page_cache_mib.saturating_mul(1 << 20)),
    })
}
