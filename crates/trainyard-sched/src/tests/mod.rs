//! The core's tests: every decision table against every status, the reactor's handlers with a
//! recording comm (as HyperQueue's `tako/src/internal/tests/test_reactor.rs`), properties over
//! random event sequences, and the crate's freedom from IO.

mod test_dep;
mod test_fair;
mod test_hang;
mod test_plan;
mod test_pool;
mod test_preempt;
mod test_props;
mod test_purity;
mod test_reactor;
mod test_reaped;
mod test_retry;
mod test_run;
mod test_status;
mod utils;
