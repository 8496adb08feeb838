//! The embedded default database: a private PostgreSQL cluster in a data directory.
//!
//! `rolemine serve` without `DATABASE_URL` creates a cluster with the machine's own PostgreSQL
//! server binaries (initdb, pg_ctl), starts it listening only on a Unix socket inside the data
//! directory, and stops it again on exit. Nothing is downloaded: if the binaries are missing the
//! caller gets [`EmbeddedError::BinariesMissing`] with installation advice.
//!
//! Several rolemine processes may share one data directory (a server and extra workers). Each
//! holds a shared lock on `<data-dir>/cluster.lock` while it uses the cluster; the last one to
//! leave (the one that can upgrade to an exclusive lock) stops it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::process::Command;

/// The role and database the embedded cluster is created with.
const DATABASE: &str = "rolemine";
/// The socket file is `.s.PGSQL.<PORT>` in the socket directory; no TCP port is opened.
const PORT: u16 = 5432;
/// Unix socket paths are limited to 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Why the embedded cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No initdb/pg_ctl on PATH nor under /usr/lib/postgresql/*/bin.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under \
         /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: `apt-get install postgresql`) \
         or set DATABASE_URL to an existing database"
    )]
    BinariesMissing,
    /// The data directory cannot be created or written.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The data directory holds something that is not a rolemine cluster.
    #[error("data directory {0} exists but holds no PostgreSQL cluster and is not empty")]
    NotACluster(PathBuf),
    /// The path would make a Unix socket name longer than the kernel allows.
    #[error("data directory path {0} is too long for a Unix socket; choose a shorter --data-dir")]
    PathTooLong(PathBuf),
    /// The data directory path has a character pg_ctl's shell command line cannot carry.
    #[error("data directory path {0} must not contain a single quote")]
    UnsupportedPath(PathBuf),
    /// Running as root and there is no unprivileged `postgres` user to own the cluster.
    #[error(
        "PostgreSQL refuses to run as root and there is no `postgres` system user to run it as; \
         create one (`useradd --system postgres`) or run rolemine as an ordinary user"
    )]
    NoServiceUser,
    /// A PostgreSQL tool failed.
    #[error("{tool} failed ({status}): {output}")]
    Tool {
        /// The program (initdb, pg_ctl ...).
        tool: String,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        output: String,
    },
    /// Connecting to the freshly started cluster failed.
    #[error("cannot connect to the embedded cluster: {0}")]
    Connect(#[from] sqlx::Error),
}

/// The OS account that owns and runs the cluster.
#[derive(Debug, Clone, Copy)]
struct ServiceUser {
    uid: u32,
    gid: u32,
}

/// A running embedded cluster. Call [`EmbeddedPostgres::stop`] when done with it.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    service_user: Option<ServiceUser>,
    /// Held shared while this process uses the cluster.
    lock: File,
}

impl EmbeddedPostgres {
    /// Finds the directory holding `initdb` and `pg_ctl`.
    ///
    /// PATH wins (following symlinks, so a Debian wrapper link leads to the real bin dir), then the
    /// newest version under `/usr/lib/postgresql`.
    pub fn locate_binaries() -> Result<PathBuf, EmbeddedError> {
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .map(|dir| dir.join("initdb"))
            .find(|candidate| candidate.is_file())
            .and_then(|initdb| fs::canonicalize(initdb).ok())
            .and_then(|initdb| initdb.parent().map(Path::to_path_buf));
        if let Some(dir) = on_path.filter(|dir| dir.join("pg_ctl").is_file()) {
            return Ok(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
                    .then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin)| bin)
            .ok_or(EmbeddedError::BinariesMissing)
    }

    /// Creates the cluster under `data_dir` if needed, starts it unless it is already running,
    /// and makes sure the `rolemine` database exists.
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = Self::locate_binaries()?;
        let data_dir = prepare_root(data_dir)?;
        let cluster_dir = data_dir.join("pgdata");
        let socket_dir = data_dir.join("run");
        let socket_file = socket_dir.join(format!(".s.PGSQL.{PORT}"));
        if socket_file.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(EmbeddedError::PathTooLong(data_dir));
        }
        if data_dir.to_string_lossy().contains('\'') {
            return Err(EmbeddedError::UnsupportedPath(data_dir));
        }
        let service_user = service_user()?;
        let lock = open_lock(&data_dir)?;
        lock.lock_shared()
            .map_err(|source| EmbeddedError::DataDir {
                path: data_dir.clone(),
                source,
            })?;
        let cluster = EmbeddedPostgres {
            bin_dir,
            cluster_dir,
            socket_dir,
            service_user,
            lock,
        };
        cluster.prepare_owned_dir(&cluster.socket_dir)?;
        if !cluster.cluster_dir.join("PG_VERSION").is_file() {
            cluster.init(&data_dir).await?;
        }
        if cluster.is_running().await? {
            tracing::info!(cluster = %cluster.cluster_dir.display(), "reusing the running embedded PostgreSQL");
        } else {
            cluster.launch(&data_dir).await?;
        }
        cluster.ensure_database().await?;
        Ok(cluster)
    }

    /// Connection options for the cluster's `rolemine` database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.server_options().database(DATABASE)
    }

    /// A `postgres://` URL for the cluster, for other processes (`DATABASE_URL=...`).
    pub fn url(&self) -> String {
        format!(
            "postgres://{DATABASE}@localhost:{PORT}/{DATABASE}?host={}",
            self.socket_dir.display()
        )
    }

    /// Stops the cluster if no other rolemine process is using it.
    pub async fn stop(self) -> Result<(), EmbeddedError> {
        // Another process still holding its shared lock makes this fail: leave the cluster up.
        if self.lock.try_lock().is_err() {
            tracing::info!(
                "embedded PostgreSQL still in use by another rolemine process; leaving it running"
            );
            return Ok(());
        }
        let output = self
            .pg_ctl()
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.cluster_dir)
            .output()
            .await
            .map_err(|e| tool_error("pg_ctl", e))?;
        check("pg_ctl stop", &output)?;
        tracing::info!(cluster = %self.cluster_dir.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    fn server_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(DATABASE)
            .log_statements(tracing::log::LevelFilter::Debug)
            // Bulk imports and mining loads are legitimately slow statements.
            .log_slow_statements(
                tracing::log::LevelFilter::Debug,
                std::time::Duration::from_secs(1),
            )
    }

    async fn init(&self, data_dir: &Path) -> Result<(), EmbeddedError> {
        if self.cluster_dir.exists()
            && fs::read_dir(&self.cluster_dir)
                .map_err(|source| EmbeddedError::DataDir {
                    path: self.cluster_dir.clone(),
                    source,
                })?
                .next()
                .is_some()
        {
            return Err(EmbeddedError::NotACluster(self.cluster_dir.clone()));
        }
        self.prepare_owned_dir(&self.cluster_dir)?;
        tracing::info!(cluster = %self.cluster_dir.display(), "creating the embedded PostgreSQL cluster");
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-U", DATABASE, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .current_dir(data_dir)
            .output()
            .await
            .map_err(|e| tool_error("initdb", e))?;
        check("initdb", &output)?;
        // Settings that suit a single-tenant analytical workload: bulk COPY imports and large
        // sequential scans for mining. Appended once, at creation; users may edit them after.
        let settings = "\n# rolemine defaults\nshared_buffers = '256MB'\nmax_wal_size = '4GB'\n\
                        work_mem = '64MB'\nmaintenance_work_mem = '512MB'\n";
        let conf = self.cluster_dir.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(|source| EmbeddedError::DataDir {
            path: conf.clone(),
            source,
        })?;
        text.push_str(settings);
        fs::write(&conf, text).map_err(|source| EmbeddedError::DataDir { path: conf, source })?;
        Ok(())
    }

    async fn is_running(&self) -> Result<bool, EmbeddedError> {
        let output = self
            .pg_ctl()
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .output()
            .await
            .map_err(|e| tool_error("pg_ctl", e))?;
        Ok(output.status.success())
    }

    async fn launch(&self, data_dir: &Path) -> Result<(), EmbeddedError> {
        let log = data_dir.join("postgres.log");
        if !log.exists() {
            File::create(&log).map_err(|source| EmbeddedError::DataDir {
                path: log.clone(),
                source,
            })?;
        }
        self.chown(&log)?;
        tracing::info!(cluster = %self.cluster_dir.display(), "starting the embedded PostgreSQL");
        let server_options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -p {PORT}",
            self.socket_dir.display()
        );
        let output = self
            .pg_ctl()
            .args(["start", "-w", "-t", "120", "-D"])
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(server_options)
            // Its own process group: a Ctrl-C in the terminal goes to us, and we stop the
            // server in order after our connections are closed.
            .process_group(0)
            .current_dir(data_dir)
            .output()
            .await
            .map_err(|e| tool_error("pg_ctl", e))?;
        if let Err(err) = check("pg_ctl start", &output) {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            tracing::error!(log = %tail.into_iter().rev().collect::<Vec<_>>().join("\n"), "postgres log");
            return Err(err);
        }
        Ok(())
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let mut conn = self.server_options().database("postgres").connect().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(())
    }

    fn pg_ctl(&self) -> Command {
        self.command("pg_ctl")
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(tool));
        if let Some(user) = self.service_user {
            command.uid(user.uid).gid(user.gid);
        }
        command.env("LC_ALL", "C").kill_on_drop(false);
        command
    }

    /// Creates `dir` (mode 0700) owned by the service user.
    fn prepare_owned_dir(&self, dir: &Path) -> Result<(), EmbeddedError> {
        fs::create_dir_all(dir).map_err(|source| EmbeddedError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
            EmbeddedError::DataDir {
                path: dir.to_path_buf(),
                source,
            }
        })?;
        self.chown(dir)
    }

    fn chown(&self, path: &Path) -> Result<(), EmbeddedError> {
        if let Some(user) = self.service_user {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(|source| {
                EmbeddedError::DataDir {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

/// Creates the data directory and returns its absolute path.
fn prepare_root(data_dir: &Path) -> Result<PathBuf, EmbeddedError> {
    let data_error = |source| EmbeddedError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(data_dir).map_err(data_error)?;
    let absolute = fs::canonicalize(data_dir).map_err(data_error)?;
    // The cluster's owner must be able to reach its files through this directory.
    let mode = fs::metadata(&absolute)
        .map_err(data_error)?
        .permissions()
        .mode();
    if mode & 0o011 != 0o011 && nix::unistd::geteuid().is_root() {
        fs::set_permissions(&absolute, fs::Permissions::from_mode(mode | 0o711))
            .map_err(data_error)?;
    }
    // Prove the directory is writable now, with a clear error, rather than deep inside initdb.
    let probe = absolute.join(".write-test");
    File::create(&probe).map_err(data_error)?;
    fs::remove_file(&probe).map_err(data_error)?;
    Ok(absolute)
}

fn open_lock(data_dir: &Path) -> Result<File, EmbeddedError> {
    let path = data_dir.join("cluster.lock");
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| EmbeddedError::DataDir { path, source })
}

/// PostgreSQL will not run as root: pick the `postgres` system account in that case.
fn service_user() -> Result<Option<ServiceUser>, EmbeddedError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(ServiceUser {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })),
        _ => Err(EmbeddedError::NoServiceUser),
    }
}

fn tool_error(tool: &str, err: io::Error) -> EmbeddedError {
    EmbeddedError::Tool {
        tool: tool.to_owned(),
        status: "could not run".to_owned(),
        output: err.to_string(),
    }
}

fn check(tool: &str, output: &Output) -> Result<(), EmbeddedError> {
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(4)..].join(" | ");
    Err(EmbeddedError::Tool {
        tool: tool.to_owned(),
        status: output.status.to_string(),
        output: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unwritable_data_dir_is_a_clear_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A directory below a regular file can never be created, even by root.
        let err = prepare_root(&file.path().join("data")).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot use data directory"),
            "{err}"
        );
    }

    #[test]
    fn binaries_error_says_how_to_install() {
        let text = EmbeddedError::BinariesMissing.to_string();
        assert!(text.contains("apt-get install postgresql"), "{text}");
        assert!(text.contains("DATABASE_URL"), "{text}");
    }
}
