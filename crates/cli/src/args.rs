//! Command-line flags; every one can also come from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rolemine: role mining over your access data, with SailPoint's IAI Role Mining REST contract.
#[derive(Debug, Parser)]
#[command(name = "rolemine", version, about)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, env = "ROLEMINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output styles.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API, with a job worker in the same process.
    Serve(ServeArgs),
    /// Run a job worker alone (scale out next to `serve` on the same database).
    Worker(WorkerArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Without it, an embedded cluster is created and run in --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data directory of the embedded cluster (used only without --database-url).
    #[arg(long, env = "ROLEMINE_DATA_DIR", default_value = ".rolemine")]
    pub data_dir: PathBuf,
    /// Connections in the pool.
    #[arg(long, env = "ROLEMINE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Seconds to wait for the database before giving up.
    #[arg(long, env = "ROLEMINE_DB_CONNECT_TIMEOUT", default_value_t = 10)]
    pub db_connect_timeout: u64,
}

/// Flags of `rolemine serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROLEMINE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Do not run a job worker inside the server (run `rolemine worker` processes instead).
    #[arg(long, env = "ROLEMINE_NO_WORKER")]
    pub no_worker: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub worker: WorkerTuning,
}

/// Flags of `rolemine worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub worker: WorkerTuning,
}

/// Job worker tuning.
#[derive(Debug, Clone, Args)]
pub struct WorkerTuning {
    /// Jobs a worker runs at once.
    #[arg(long, env = "ROLEMINE_WORKER_CONCURRENCY", default_value_t = 1)]
    pub worker_concurrency: usize,
    /// Seconds a claimed job stays leased without renewal before another worker may take it.
    #[arg(long, env = "ROLEMINE_JOB_LEASE", default_value_t = 30)]
    pub job_lease: u64,
}
