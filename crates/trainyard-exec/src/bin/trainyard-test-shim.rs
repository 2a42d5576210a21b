//! Test-only stand-in for `trainyard shim <run_dir | ->`: runs [`trainyard_exec::run_shim`]
//! (or [`trainyard_exec::run_spare_shim`] for `-`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (Some(cmd), Some(dir)) if cmd == "shim" => {
            let code = if dir == trainyard_exec::RUN_DIR_ON_STDIN {
                trainyard_exec::run_spare_shim()
            } else {
                trainyard_exec::run_shim(&PathBuf::from(dir))
            };
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        _ => {
            eprintln!("usage: trainyard-test-shim shim <run_dir | ->");
            ExitCode::from(2)
        }
    }
}
