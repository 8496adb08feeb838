//! One module per subcommand.

mod client;
mod demo;
mod generate;
mod import;
mod migrate;
mod mine;
mod serve;
mod worker;

use crate::args::{Command, DatabaseArgs};

/// The process's peak resident memory (VmHWM), in MiB: printed by the commands whose memory
/// is a target.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Writes one line of a command's output to stdout. A reader that went away (`rolemine mine |
/// head -c 10`) is not an error of the command: the work is done and the rest is dropped.
fn output_line(line: impl std::fmt::Display) -> anyhow::Result<()> {
    match write_line(line) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to stdout: {err}"))
        }
        _ => Ok(()),
    }
}

/// Writes one line that must reach its reader (a secret shown only once): any failure,
/// a closed stdout included, is an error of the command.
fn output_line_or_fail(line: impl std::fmt::Display) -> anyhow::Result<()> {
    write_line(line).map_err(|err| anyhow::anyhow!("cannot write to stdout: {err}"))
}

fn write_line(line: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

/// Runs a parsed command to completion; `database` is the global database flags.
pub async fn run(command: Command, database: DatabaseArgs) -> anyhow::Result<()> {
    match command {
        Command::Serve(mut args) => {
            args.database = database;
            serve::run(args).await
        }
        Command::Worker(mut args) => {
            args.database = database;
            worker::run(args).await
        }
        Command::Migrate => migrate::run(database).await,
        Command::Import(mut args) => {
            args.database = database;
            import::run(args).await
        }
        Command::Mine(args) => tokio::task::spawn_blocking(move || mine::run(args)).await?,
        Command::Client(mut args) => {
            args.database = database;
            client::run(args).await
        }
        Command::Generate(args) => tokio::task::spawn_blocking(move || generate::run(args)).await?,
    }
}
