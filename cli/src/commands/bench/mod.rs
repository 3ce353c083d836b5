//! `paywire bench`: measure parts of paywire on this machine, as ratios against baselines
//! from the same run.

mod gateway;
mod indexer;
mod program;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum BenchCommand {
    Indexer(indexer::BenchIndexerArgs),
    Gateway(gateway::BenchGatewayArgs),
    Program(program::BenchProgramArgs),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Indexer(args) => indexer::run(args).await,
        BenchCommand::Gateway(args) => gateway::run(args).await,
        BenchCommand::Program(args) => program::run(args),
    }
}

/// The Postgres server a benchmark creates its scratch database on (and drops it afterwards).
#[derive(Args, Debug)]
struct ScratchServer {
    /// Postgres server to run on (needs CREATE DATABASE)
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
}
