//! The provisioning job: turns a potential role into a role (`store::provisioning`).

use async_trait::async_trait;
use rolemine_store::provisioning::{self, ProvisionJob};
use rolemine_store::{PgPool, StoreError};
use serde_json::Value;
use uuid::Uuid;

use crate::{JobContext, JobError, JobHandler};

/// Runs provisioning jobs.
#[derive(Debug, Clone)]
pub struct ProvisionHandler {
    pool: PgPool,
}

impl ProvisionHandler {
    /// A handler provisioning roles in `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn job_of(payload: &Value) -> Result<ProvisionJob, JobError> {
    serde_json::from_value(payload.clone()).map_err(|err| {
        JobError::Permanent(format!(
            "the job payload is not a provisioning request: {err}"
        ))
    })
}

#[async_trait]
impl JobHandler for ProvisionHandler {
    fn kind(&self) -> &'static str {
        provisioning::JOB_KIND
    }

    async fn run(&self, context: JobContext) -> Result<(), JobError> {
        let job = job_of(&context.payload)?;
        match provisioning::provision(&self.pool, &job).await {
            Ok(Some(role)) => {
                tracing::info!(potential_role = %job.potential_role_id, %role, "role provisioned");
                Ok(())
            }
            Ok(None) => Ok(()),
            // The request cannot succeed as given: fail it now, with the reason.
            Err(StoreError::Invalid(reason)) => Err(JobError::Permanent(reason)),
            Err(StoreError::NotFound { .. }) => Err(JobError::Permanent(format!(
                "potential role {} no longer exists",
                job.potential_role_id
            ))),
            Err(err) => Err(err.into()),
        }
    }

    async fn on_failure(&self, _job_id: Uuid, payload: &Value, reason: &str) {
        let Ok(job) = job_of(payload) else {
            return;
        };
        if let Err(err) = provisioning::fail(&self.pool, job.potential_role_id, reason).await {
            tracing::error!(potential_role = %job.potential_role_id, error = %err, "cannot record a provisioning failure");
        }
    }
}
