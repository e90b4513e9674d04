//! The `floww` command line: one file per command. Commands check their
//! arguments, then call into the library; they hold no host logic.

mod build;
mod client;
mod deploy;
mod dev;
mod invoke;
mod kv;
mod logs;
mod new;
mod runs;
pub(crate) mod sdk;
mod secret;
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

    /// How log lines are written to stderr: `text` for people, `json` for machines.
    #[arg(long, global = true, value_enum, env = "FLOWW_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
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
    Invoke(invoke::InvokeCommand),
    Logs(logs::LogsCommand),
    Secret(secret::SecretCommand),
    Runs(runs::RunsCommand),
    Run(runs::RunCommand),
}

impl Cli {
    pub fn run(self) -> ExitCode {
        init_logging(self.log_format);
        let result = match self.command {
            Command::New(c) => c.run(),
            Command::Build(c) => c.run(),
            Command::Dev(c) => c.run(),
            Command::Serve(c) => c.run(),
            Command::Deploy(c) => c.run(),
            Command::Workflows(c) => c.run(),
            Command::Undeploy(c) => c.run(),
            Command::Kv(c) => c.run(),
            Command::Invoke(c) => c.run(),
            Command::Logs(c) => c.run(),
            Command::Secret(c) => c.run(),
            Command::Runs(c) => c.run(),
            Command::Run(c) => c.run(),
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
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,cranelift=warn,wasmtime=warn,sled=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => logs.json().init(),
    }
}
