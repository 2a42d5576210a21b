//! trainyard-api's integration tests, one test binary: checks over the workspace's sources
//! (`module_cycles`: no import circle between the modules of a crate;
//! `no_hand_written_time_or_compare`: calendar math and secret comparison stay in the
//! libraries). They live in the smallest crate so that they build in seconds.

mod module_cycles;
mod no_hand_written_time_or_compare;
