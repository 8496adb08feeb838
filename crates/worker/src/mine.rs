//! The `mine-session` job: resolve a session's population, load its access in one query, run
//! the engine on a blocking thread (rayon inside), and write the potential roles.

use std::time::Instant;

use async_trait::async_trait;
use roaring::RoaringBitmap;
use rolemine_domain::{MinIdentities, MineJob, PruneThreshold, SessionState};
use rolemine_engine::mine::{mine, MiningInput, MiningParams};
use rolemine_engine::{EngineError, Observer};
use rolemine_store::mining::{self, Completion};
use rolemine_store::sessions;
use rolemine_store::{PgPool, StoreError};
use tokio_util::sync::CancellationToken;

use crate::input::InputBuilder;
use crate::{JobContext, JobError, JobHandler};

/// Runs mining jobs.
#[derive(Debug, Clone)]
pub struct MineHandler {
    pool: PgPool,
    common_access_threshold: f64,
}

impl MineHandler {
    /// A handler mining sessions in `pool`'s database; `common_access_threshold` is the server
    /// setting (percent of the population).
    pub fn new(pool: PgPool, common_access_threshold: f64) -> Self {
        Self {
            pool,
            common_access_threshold,
        }
    }
}

/// Lets the engine see the job's cancellation.
struct Cancel(CancellationToken);

impl Observer for Cancel {
    fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

#[async_trait]
impl JobHandler<MineJob> for MineHandler {
    async fn run(&self, job: &MineJob, context: &JobContext) -> Result<(), JobError> {
        let started = Instant::now();
        let session = match sessions::get(&self.pool, job.session_id).await {
            Ok(session) => session,
            Err(StoreError::NotFound { .. }) => {
                return Err(JobError::Permanent(format!(
                    "role mining session {} no longer exists",
                    job.session_id
                )))
            }
            Err(err) => return Err(err.into()),
        };
        // An attempt that published this generation and died before the job was marked done
        // (its lease ran out) leaves nothing to redo; mining again would replace the roles
        // readers already see.
        if mining::published(&self.pool, job.session_id, job.generation).await? {
            tracing::info!(
                session = %job.session_id,
                generation = job.generation,
                "generation already published by an earlier attempt"
            );
            return Ok(());
        }
        // On cancellation the statement is cancelled in PostgreSQL and the job stops at once.
        // The existing roles (for freshness) are read meanwhile on another connection.
        let mut builder = InputBuilder::default();
        let mut push = |row| builder.push(row);
        let population = mining::load_population(
            &self.pool,
            job.session_id,
            job.generation,
            &session.scope,
            context.cancel.cancelled(),
            &mut push,
        );
        let grants = async {
            tokio::select! {
                roles = mining::existing_role_grants(&self.pool) => roles.map_err(JobError::from),
                () = context.cancel.cancelled() => Err(JobError::Cancelled),
            }
        };
        let (population, grants) = tokio::join!(population, grants);
        let Some(identities) = population.map_err(|err| {
            if err.is_statement_timeout() {
                JobError::Permanent(format!(
                    "the population query ran longer than {} s; narrow the scope",
                    mining::POPULATION_TIMEOUT.as_secs()
                ))
            } else {
                err.into()
            }
        })?
        else {
            return Ok(()); // superseded by a newer generation
        };
        let input = builder.build(grants?);
        let loaded = started.elapsed();
        if context.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let params = MiningParams {
            role_type: session.r#type,
            prune_threshold: session.prune_threshold.map(|t| t.get()),
            min_identities: session
                .min_num_identities
                .unwrap_or(MinIdentities::DEFAULT)
                .get(),
            common_access_threshold: self.common_access_threshold,
            method: session.method,
        };
        let cancel = Cancel(context.cancel.clone());
        let (result, input) = tokio::task::spawn_blocking(move || {
            let population: RoaringBitmap = (0..input.matrix.identities()).collect();
            let result = mine(
                MiningInput {
                    matrix: &input.matrix,
                    population: &population,
                    existing_roles: &input.existing_roles,
                    attributes: &input.attributes,
                },
                params,
                &cancel,
            );
            (result, input)
        })
        .await
        .map_err(|err| JobError::Permanent(format!("the mining thread failed: {err}")))?;
        let result = match result {
            Ok(result) => result,
            Err(EngineError::Cancelled) => return Err(JobError::Cancelled),
            Err(err) => return Err(JobError::Permanent(format!("mining failed: {err}"))),
        };
        let mined = started.elapsed();
        let prescribed =
            PruneThreshold::try_from(i64::from(result.prescribed_threshold)).map_err(|err| {
                JobError::Permanent(format!("the engine prescribed a threshold that {err}"))
            })?;
        if !mining::advance(
            &self.pool,
            job.session_id,
            job.generation,
            SessionState::PruneThresholdObtained,
            Some(prescribed),
            None,
        )
        .await?
        {
            return Ok(());
        }
        let count = i32::try_from(result.roles.len()).unwrap_or(i32::MAX);
        if !mining::advance(
            &self.pool,
            job.session_id,
            job.generation,
            SessionState::PotentialRolesProcessing,
            None,
            Some(count),
        )
        .await?
        {
            return Ok(());
        }
        let notify = session
            .email_recipient_id
            .as_ref()
            .map(|recipient| Completion {
                recipient: recipient.clone(),
                subject: "Role mining session complete".to_owned(),
                body: format!(
                    "Role mining session {} found {count} potential role{}.",
                    job.session_id,
                    if count == 1 { "" } else { "s" }
                ),
            });
        if !mining::write_roles(
            &self.pool,
            job.session_id,
            job.generation,
            &result,
            &input.ids,
            notify.as_ref(),
            &context.cancel,
        )
        .await?
        {
            return Ok(());
        }
        for (phase, took) in &result.timings {
            metrics::histogram!("rolemine_mining_phase_seconds", "phase" => phase.name())
                .record(took.as_secs_f64());
            tracing::debug!(session = %job.session_id, phase = phase.name(), seconds = took.as_secs_f64(), "mining phase");
        }
        tracing::info!(
            session = %job.session_id,
            identities,
            roles = count,
            load_seconds = loaded.as_secs_f64(),
            mine_seconds = (mined - loaded).as_secs_f64(),
            write_seconds = (started.elapsed() - mined).as_secs_f64(),
            "session mined"
        );
        Ok(())
    }

    async fn on_failure(&self, job: &MineJob, reason: &str) {
        if let Err(err) =
            mining::fail(&self.pool, job.session_id, Some(job.generation), reason).await
        {
            tracing::error!(session = %job.session_id, error = %err, "cannot record a mining failure");
        }
    }
}
