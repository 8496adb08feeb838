//! Which handler runs which job: one slot per job kind, dispatched by matching on the typed
//! [`Job`], so a new kind does not compile until it is routed.

use std::sync::Arc;

use rolemine_domain::{ExportJob, ImportJob, Job, JobKind, MineJob, ProvisionJob};

use crate::{JobContext, JobError, JobHandler};

/// The handlers a worker runs; a worker claims only the kinds it has a handler for.
#[derive(Clone, Default)]
pub struct Handlers {
    mine: Option<Arc<dyn JobHandler<MineJob>>>,
    import: Option<Arc<dyn JobHandler<ImportJob>>>,
    export: Option<Arc<dyn JobHandler<ExportJob>>>,
    provision: Option<Arc<dyn JobHandler<ProvisionJob>>>,
}

impl Handlers {
    /// Runs mining jobs with `handler`.
    pub fn mine(mut self, handler: impl JobHandler<MineJob>) -> Self {
        self.mine = Some(Arc::new(handler));
        self
    }

    /// Runs import jobs with `handler`.
    pub fn import(mut self, handler: impl JobHandler<ImportJob>) -> Self {
        self.import = Some(Arc::new(handler));
        self
    }

    /// Runs export jobs with `handler`.
    pub fn export(mut self, handler: impl JobHandler<ExportJob>) -> Self {
        self.export = Some(Arc::new(handler));
        self
    }

    /// Runs provisioning jobs with `handler`.
    pub fn provision(mut self, handler: impl JobHandler<ProvisionJob>) -> Self {
        self.provision = Some(Arc::new(handler));
        self
    }

    /// The kinds there is a handler for.
    pub fn kinds(&self) -> Vec<JobKind> {
        [
            (JobKind::Mine, self.mine.is_some()),
            (JobKind::Import, self.import.is_some()),
            (JobKind::Export, self.export.is_some()),
            (JobKind::Provision, self.provision.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, handled)| handled.then_some(kind))
        .collect()
    }

    /// Runs one attempt at `job` with its kind's handler.
    pub(crate) async fn run(&self, job: &Job, context: &JobContext) -> Result<(), JobError> {
        let missing = || JobError::Permanent(format!("no handler for {} jobs", job.kind()));
        match job {
            Job::Mine(job) => {
                self.mine
                    .as_ref()
                    .ok_or_else(missing)?
                    .run(job, context)
                    .await
            }
            Job::Import(job) => {
                self.import
                    .as_ref()
                    .ok_or_else(missing)?
                    .run(job, context)
                    .await
            }
            Job::Export(job) => {
                self.export
                    .as_ref()
                    .ok_or_else(missing)?
                    .run(job, context)
                    .await
            }
            Job::Provision(job) => {
                let handler = self.provision.as_ref().ok_or_else(missing)?;
                handler.run(job, context).await
            }
        }
    }

    /// Lets `job`'s handler record that it failed for good.
    pub(crate) async fn on_failure(&self, job: &Job, reason: &str) {
        match job {
            Job::Mine(job) => {
                if let Some(handler) = &self.mine {
                    handler.on_failure(job, reason).await;
                }
            }
            Job::Import(job) => {
                if let Some(handler) = &self.import {
                    handler.on_failure(job, reason).await;
                }
            }
            Job::Export(job) => {
                if let Some(handler) = &self.export {
                    handler.on_failure(job, reason).await;
                }
            }
            Job::Provision(job) => {
                if let Some(handler) = &self.provision {
                    handler.on_failure(job, reason).await;
                }
            }
        }
    }
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("kinds", &self.kinds())
            .finish()
    }
}
