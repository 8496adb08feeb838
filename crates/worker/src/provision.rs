//! The provisioning job: turns a potential role into a role (`store::provisioning`).

use async_trait::async_trait;
use rolemine_domain::ProvisionJob;
use rolemine_store::provisioning;
use rolemine_store::{PgPool, StoreError};

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

#[async_trait]
impl JobHandler<ProvisionJob> for ProvisionHandler {
    async fn run(&self, job: &ProvisionJob, _context: &JobContext) -> Result<(), JobError> {
        match provisioning::provision(&self.pool, job).await {
            Ok(Some(role)) => {
                tracing::info!(potential_role = %job.potential_role_id, %role, "role provisioned");
                Ok(())
            }
            Ok(None) => Ok(()),
            // The request cannot succeed as given: fail it now, with the reason.
            Err(StoreError::Refused(refusal)) => Err(JobError::Permanent(refusal.to_string())),
            Err(StoreError::NotFound { .. }) => Err(JobError::Permanent(format!(
                "potential role {} no longer exists",
                job.potential_role_id
            ))),
            Err(err) => Err(err.into()),
        }
    }

    async fn on_failure(&self, job: &ProvisionJob, reason: &str) {
        if let Err(err) = provisioning::fail(&self.pool, job.potential_role_id, reason).await {
            tracing::error!(potential_role = %job.potential_role_id, error = %err, "cannot record a provisioning failure");
        }
    }
}
