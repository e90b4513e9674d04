use clap::Parser;

fn main() -> std::process::ExitCode {
    floww_host::commands::Cli::parse().run()
}
