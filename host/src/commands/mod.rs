//! The `floww` command line: one file per command. Commands check their
//! arguments, then call into the library; they hold no host logic.

mod build;
mod client;
mod deploy;
mod dev;
mod kv;
mod new;
mod serve;
mod undeploy;
mod workflows;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run workflows compiled to WebAssembly components, triggered by webhooks,
/// with a key-value store whose tables are guarded per workflow.
#[derive(Parser)]
#[command(name = "floww", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    New(new::NewCommand),
    Build(build::BuildCommand),
    Dev(dev::DevCommand),
    Serve(serve::ServeCommand),
    Deploy(deploy::DeployCommand),
    Workflows(workflows::WorkflowsCommand),
    Undeploy(undeploy::UndeployCommand),
    Kv(kv::KvCommand),
}

impl Cli {
    pub fn run(self) -> ExitCode {
        init_logging();
        let result = match self.command {
            Command::New(c) => c.run(),
            Command::Build(c) => c.run(),
            Command::Dev(c) => c.run(),
            Command::Serve(c) => c.run(),
            Command::Deploy(c) => c.run(),
            Command::Workflows(c) => c.run(),
            Command::Undeploy(c) => c.run(),
            Command::Kv(c) => c.run(),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Logs go to stderr; `RUST_LOG` picks what (default: info, quiet engine).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,cranelift=warn,wasmtime=warn,sled=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
