//! The `floww` command line: one file per command. Commands check their
//! arguments, then call into the library; they hold no host logic.

mod build;
mod dev;
mod serve;

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
    Build(build::BuildCommand),
    Serve(serve::ServeCommand),
    Dev(dev::DevCommand),
}

impl Cli {
    pub fn run(self) -> ExitCode {
        init_logging();
        let result = match self.command {
            Command::Build(c) => c.run(),
            Command::Serve(c) => c.run(),
            Command::Dev(c) => c.run(),
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
