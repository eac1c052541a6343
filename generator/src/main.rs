//! The `socle` binary: parses the arguments, runs the command and maps its
//! result to the exit code; the commands are in `commands`, the work in the
//! library.
//!
//! Exit codes: 0 success, 1 policy violations, 2 usage or input error (bad
//! spec, non-empty output directory, unreadable blueprint). A closed stdout
//! (`socle spec schema | head`) is success, not an error.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;
use commands::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let _ = commands::COLOUR.set(commands::decide_colour(cli.color));
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(err.downcast_ref::<Exit>().map(|e| e.0).unwrap_or(2))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
