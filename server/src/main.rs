//! `linli`: see `linli --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = linli_server::cli::Cli::parse();
    match linli_server::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linli: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
