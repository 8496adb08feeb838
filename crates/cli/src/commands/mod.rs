//! One module per subcommand.

mod migrate;
mod serve;
mod worker;

use crate::args::Command;

/// Runs a parsed command to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
    }
}
