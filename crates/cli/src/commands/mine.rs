//! `rolemine mine`: batch mining from files, no database.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use rolemine_dataset::output::{self, round3};
use rolemine_dataset::AccessData;
use rolemine_engine::{MiningMethod, MiningParams, Observer, Phase, RoleType};
use serde_json::json;

use crate::args::{MethodArg, MineArgs, RoleTypeArg};
use crate::progress::Progress;

/// Loads the input, mines it, writes the zip and prints a one-line JSON summary.
pub fn run(args: MineArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let bar = Bar::new(args.quiet);
    bar.progress.stage("loading");
    let data = AccessData::load(&args.input).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    for warning in &data.warnings {
        tracing::warn!("{warning}");
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let params = MiningParams {
        role_type: match args.role_type {
            RoleTypeArg::Specialized => RoleType::Specialized,
            RoleTypeArg::Common => RoleType::Common,
        },
        prune_threshold: args.prune_threshold,
        min_identities: args.min_identities,
        common_access_threshold: args.common_access_threshold,
        method: match args.method {
            MethodArg::PeerGroups => MiningMethod::PeerGroups,
            MethodArg::MinimalCover => MiningMethod::MinimalCover,
        },
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the mining threads")?;
    let result = pool.install(|| data.mine(params, &bar))?;
    bar.progress.stage("writing");
    let write_started = Instant::now();
    let mut summary = output::summary(&data, &params, &result, json!({}));
    output::write_zip(&args.out, &data, &result, &summary)?;
    bar.finish();
    let extra = json!({
        "loadSeconds": round3(load_seconds),
        "writeSeconds": round3(write_started.elapsed().as_secs_f64()),
        "totalSeconds": round3(started.elapsed().as_secs_f64()),
        "peakMemoryMiB": super::peak_memory_mib(),
        "threads": pool.current_num_threads(),
        "out": args.out.display().to_string(),
    });
    if let (Some(object), serde_json::Value::Object(extra)) = (summary.as_object_mut(), extra) {
        object.extend(extra);
        object.remove("sweep");
    }
    super::output_line(summary)?;
    Ok(())
}

/// Progress driven by the engine's observer callbacks.
struct Bar {
    progress: Progress,
    phase: Mutex<Option<(Phase, Instant)>>,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        Self {
            progress: Progress::new(quiet, "steps", "{msg:>16} [{bar:40}] {pos}/{len}"),
            phase: Mutex::new(None),
        }
    }

    fn finish(&self) {
        self.progress.finish();
    }
}

impl Observer for Bar {
    fn phase(&self, phase: Phase) {
        if let Ok(mut current) = self.phase.lock() {
            let now = Instant::now();
            if let Some((previous, started)) = current.replace((phase, now)) {
                tracing::debug!(
                    phase = previous.name(),
                    seconds = (now - started).as_secs_f64(),
                    "phase done"
                );
            }
        }
        self.progress.stage(phase.name());
    }

    fn progress(&self, done: u64, total: u64) {
        self.progress.update(done, Some(total));
    }
}
