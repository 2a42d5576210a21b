//! trainyard-exec's integration tests: one test binary, a module per suite (`run`: real
//! workers under the real shim; `spares`: shims started ahead of their runs; `logs`: paging
//! over real files), helpers in `harness`.

mod harness;

mod logs;
mod run;
mod spares;
