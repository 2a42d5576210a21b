//! `trainyard-shim shim <run_dir>`: the supervisor of one local run, started by the server
//! (not for direct use); the same as `trainyard shim <run_dir>`. The server starts it as
//! `trainyard-shim shim -`, ahead of the run, and hands it the run folder on stdin
//! (`trainyard_exec::Shims`).
//!
//! A program of its own so that each run execs a small binary: it links the supervisor
//! (`trainyard_exec::run_shim`) and its log, not the server, the client and their
//! dependencies. Loading and relocating the whole `trainyard` binary took most of a trivial
//! run's shim time (bench/results.md, issue #32). Installed beside `trainyard` (both are
//! binaries of this package); the server falls back to `trainyard shim` without it.

mod log_setup;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next(), args.next()) {
        (Some(command), Some(run_dir), None) if command == "shim" => {
            log_setup::init_supervisor();
            let code = if run_dir == trainyard_exec::RUN_DIR_ON_STDIN {
                trainyard_exec::run_spare_shim()
            } else {
                trainyard_exec::run_shim(&PathBuf::from(run_dir))
            };
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        _ => {
            eprintln!(
                "usage: trainyard-shim shim <run_dir | ->\n\
                 The supervisor of one run, started by the trainyard server; not for direct use."
            );
            ExitCode::from(2)
        }
    }
}
