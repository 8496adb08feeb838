//! One module per subcommand.

mod demo;
mod generate;
mod import;
mod migrate;
mod mine;
mod serve;
mod worker;

use crate::args::Command;

/// Runs a parsed command to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Mine(args) => tokio::task::spawn_blocking(move || mine::run(args)).await?,
        Command::Generate(args) => tokio::task::spawn_blocking(move || generate::run(args)).await?,
    }
}
