//! `rolemine import`.

use std::time::Instant;

use rolemine_store::import::{import_path, ImportError};
use serde_json::json;

use crate::args::ImportArgs;
use crate::database::Database;
use crate::progress::Progress;

/// Imports the files and prints the database totals as one JSON line.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let database = Database::open(&args.database).await?;
    let started = Instant::now();
    let progress = std::sync::Arc::new(Progress::new(
        args.quiet,
        "assignment rows read",
        "{msg} {pos} assignment rows read ({per_sec})",
    ));
    progress.stage("importing");
    let ticker = progress.clone();
    let outcome = import_path(&database.pool, &args.input, move |rows| {
        ticker.update(rows, None)
    })
    .await;
    progress.finish();
    let result = match outcome {
        Ok(report) => {
            for warning in &report.warnings {
                tracing::warn!("{warning}");
            }
            let seconds = started.elapsed().as_secs_f64();
            // The figure the import is measured by: assignment rows read per second, end to end.
            let rate = report.assignment_rows as f64 / seconds.max(1e-9);
            tracing::info!(
                seconds,
                assignment_rows = report.assignment_rows,
                assignment_rows_per_second = rate.round(),
                peak_memory_mib = super::peak_memory_mib(),
                "import committed"
            );
            super::output_line(json!(report.counts))?;
            Ok(())
        }
        Err(ImportError::Invalid(errors)) => {
            eprintln!("{errors}");
            Err(anyhow::anyhow!(
                "import rejected: {} error{} in the input; nothing was changed",
                errors.total,
                if errors.total == 1 { "" } else { "s" }
            ))
        }
        Err(err) => Err(anyhow::anyhow!("import failed; nothing was changed: {err}")),
    };
    database.close().await?;
    result
}
