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
    /// Where the database is: accepted before or after the subcommand.
    #[command(flatten)]
    pub database: DatabaseArgs,
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
    Migrate,
    /// Load access data files (a directory or .zip) into the database, all or nothing.
    Import(ImportArgs),
    /// Mine potential roles from import files (no database) into a zip.
    Mine(MineArgs),
    /// Generate synthetic access data with planted roles, in the import format.
    Generate(GenerateArgs),
    /// Manage the API clients that obtain tokens from `POST /oauth/token`.
    Client(ClientArgs),
}

/// `rolemine client ...`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub action: ClientAction,
    /// The global database flags, filled in by `commands::run`.
    #[arg(skip)]
    pub database: DatabaseArgs,
}

/// What to do with API clients.
#[derive(Debug, Subcommand)]
pub enum ClientAction {
    /// Create a client; prints {client_id, client_secret, scopes} as JSON (the secret only now).
    Create {
        /// Display name (shown as `createdBy.displayName` on what it creates).
        #[arg(long)]
        name: String,
        /// Scopes to grant: iai:access-modeling:read and/or iai:access-modeling:manage.
        #[arg(long = "scope", required = true, num_args = 1..)]
        scopes: Vec<String>,
    },
    /// List clients as JSON lines (no secrets).
    List,
    /// Revoke a client: its tokens stop working at once.
    Revoke {
        /// The client_id to revoke.
        client_id: String,
    },
}

/// Role types on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleTypeArg {
    /// Everything except common access.
    Specialized,
    /// Common access only.
    Common,
}

/// Flags of `rolemine import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An import directory or .zip (the access-data format).
    pub input: PathBuf,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    /// The global database flags, filled in by `commands::run`.
    #[arg(skip)]
    pub database: DatabaseArgs,
}

/// Flags of `rolemine mine`.
#[derive(Debug, Args)]
pub struct MineArgs {
    /// An import directory or .zip (the access-data format).
    pub input: PathBuf,
    /// Where to write the result zip.
    #[arg(long)]
    pub out: PathBuf,
    /// Similarity threshold in percent (0-100); the prescribed threshold when omitted.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub prune_threshold: Option<u8>,
    /// Fewest identities in a potential role.
    #[arg(long, default_value_t = 20)]
    pub min_identities: u32,
    /// Mine common access or everything else.
    #[arg(long = "type", value_enum, default_value_t = RoleTypeArg::Specialized)]
    pub role_type: RoleTypeArg,
    /// How roles are found: overlapping peer groups, or the fewest roles that explain every
    /// assignment with no over-grant (minimum identities and threshold do not apply).
    #[arg(long, value_enum, default_value_t = MethodArg::PeerGroups)]
    pub method: MethodArg,
    /// Percent of the population at which an entitlement counts as common access.
    #[arg(long, env = "ROLEMINE_COMMON_ACCESS_THRESHOLD", default_value_t = 80.0)]
    pub common_access_threshold: f64,
    /// Worker threads (default: one per core).
    #[arg(long, env = "ROLEMINE_THREADS")]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Mining methods on the command line (the session field `method`'s values, in kebab case).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// Overlapping peer groups.
    PeerGroups,
    /// The minimal exact cover.
    MinimalCover,
}

/// Flags of `rolemine generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Identities to generate.
    #[arg(long, default_value_t = 5_000)]
    pub identities: u32,
    /// Entitlements in all.
    #[arg(long, default_value_t = 2_000)]
    pub entitlements: u32,
    /// Planted roles.
    #[arg(long, default_value_t = 40)]
    pub roles: u32,
    /// Fewest entitlements in a planted role.
    #[arg(long, default_value_t = 4)]
    pub role_size_min: u32,
    /// Most entitlements in a planted role.
    #[arg(long, default_value_t = 12)]
    pub role_size_max: u32,
    /// Entitlements everyone holds.
    #[arg(long, default_value_t = 3)]
    pub birthright: u32,
    /// Probability that a member lacks one of its role's entitlements.
    #[arg(long, default_value_t = 0.03)]
    pub drop_rate: f64,
    /// Mean random extra entitlements per identity.
    #[arg(long, default_value_t = 2.0)]
    pub extra: f64,
    /// Applications.
    #[arg(long, default_value_t = 8)]
    pub sources: u32,
    /// Probability that an identity also holds a second planted role (0-1).
    #[arg(long, default_value_t = 0.0)]
    pub second_role_share: f64,
    /// Probability that an identity with a second role holds a third one too (0-1).
    #[arg(long, default_value_t = 0.0)]
    pub third_role_share: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Where the database is. Global: `rolemine --data-dir X client list` and
/// `rolemine client list --data-dir X` are the same.
#[derive(Debug, Clone, Default, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Without it, an embedded cluster is created and run in --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// Data directory of the embedded cluster (used only without --database-url).
    #[arg(
        long,
        env = "ROLEMINE_DATA_DIR",
        default_value = ".rolemine",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Connections in the pool.
    #[arg(
        long,
        env = "ROLEMINE_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,
    /// Seconds to wait for the database before giving up.
    #[arg(
        long,
        env = "ROLEMINE_DB_CONNECT_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub db_connect_timeout: u64,
}

/// Flags of `rolemine serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROLEMINE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Load generated demo access data (planted roles) when the database has no identities yet.
    #[arg(long, env = "ROLEMINE_DEMO")]
    pub demo: bool,
    /// Do not run a job worker inside the server (run `rolemine worker` processes instead).
    #[arg(long, env = "ROLEMINE_NO_WORKER")]
    pub no_worker: bool,
    /// Where uploaded imports wait for a worker; workers in other processes must see the same
    /// path (a shared volume). Default: `<data-dir>/uploads`.
    #[arg(long, env = "ROLEMINE_UPLOAD_DIR")]
    pub upload_dir: Option<PathBuf>,
    /// The largest import upload accepted, in bytes.
    #[arg(long, env = "ROLEMINE_MAX_IMPORT_BYTES", default_value_t = 1 << 30)]
    pub max_import_bytes: u64,
    /// The largest JSON request body accepted, in bytes.
    #[arg(long, env = "ROLEMINE_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Seconds a contract operation may run before it fails.
    #[arg(long, env = "ROLEMINE_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Seconds an access token from `POST /oauth/token` lives.
    #[arg(long, env = "ROLEMINE_TOKEN_TTL", default_value_t = 3600)]
    pub token_ttl: u64,
    /// The issuer (`iss`) of access tokens; every server on one database must agree.
    #[arg(long, env = "ROLEMINE_TOKEN_ISSUER", default_value = "rolemine")]
    pub token_issuer: String,
    /// Sustained requests per second each API client may send.
    #[arg(long, env = "ROLEMINE_RATE_LIMIT", default_value_t = 50)]
    pub rate_limit: u32,
    /// Requests a client may send at once above the sustained rate.
    #[arg(long, env = "ROLEMINE_RATE_BURST", default_value_t = 100)]
    pub rate_burst: u32,
    /// Failed token requests one client id, or one address, may make per minute; past that
    /// its token requests are refused (429) until the minute is over.
    #[arg(long, env = "ROLEMINE_TOKEN_FAILURES", default_value_t = 20)]
    pub token_failures: u32,
    /// MiB of potential-role pages each server keeps in memory, served again while their
    /// session is unchanged; 0 turns the cache off.
    #[arg(long, env = "ROLEMINE_PAGE_CACHE_MIB", default_value_t = 64)]
    pub page_cache_mib: u64,
    /// The global database flags, filled in by `commands::run`.
    #[arg(skip)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub worker: WorkerTuning,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
    #[command(flatten)]
    pub metrics: crate::telemetry::MetricsArgs,
}

/// Flags of `rolemine worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The global database flags, filled in by `commands::run`.
    #[arg(skip)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub worker: WorkerTuning,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
    #[command(flatten)]
    pub metrics: crate::telemetry::MetricsArgs,
}

/// Where asynchronous exports are kept, and for how long.
#[derive(Debug, Clone, Args)]
pub struct ArtifactArgs {
    /// Directory for export artifacts (default `<data-dir>/artifacts`); every server and worker
    /// process must see the same one (a shared volume) unless `--artifact-url` is set.
    #[arg(long, env = "ROLEMINE_ARTIFACT_DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// An S3-compatible bucket for export artifacts instead, as `s3://bucket/prefix`;
    /// credentials, region and endpoint come from the standard `AWS_*` variables.
    #[arg(long, env = "ROLEMINE_ARTIFACT_URL")]
    pub artifact_url: Option<String>,
    /// Seconds an asynchronous export stays downloadable before it is deleted.
    #[arg(long, env = "ROLEMINE_EXPORT_TTL", default_value_t = 86_400)]
    pub export_ttl: u64,
}

impl ArtifactArgs {
    /// The artifact store these flags name.
    pub fn open(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<rolemine_artifacts::Artifacts> {
        let dir = self
            .artifact_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("artifacts"));
        Ok(rolemine_artifacts::Artifacts::open(
            &dir,
            self.artifact_url.as_deref(),
        )?)
    }

    /// How long an export is served.
    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.export_ttl.max(1))
    }
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
    /// Percent of a session's population at which an entitlement is common access.
    #[arg(long, env = "ROLEMINE_COMMON_ACCESS_THRESHOLD", default_value_t = 80.0)]
    pub common_access_threshold: f64,
    /// SMTP server for notifications (`smtp://host:25`, `smtp://host:587?tls=required`,
    /// `smtps://user:pass@host`); without it, notifications are written to the log.
    #[arg(long, env = "ROLEMINE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of notification emails.
    #[arg(
        long,
        env = "ROLEMINE_MAIL_FROM",
        default_value = "Rolemine <rolemine@localhost>"
    )]
    pub mail_from: String,
}
