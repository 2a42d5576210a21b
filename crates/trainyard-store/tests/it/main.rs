//! trainyard-store's integration tests: one test binary, a module per suite (`store`: jobs and
//! versions; `viz`: visualization jobs), each test run on SQLite and on PostgreSQL.

mod events;
mod store;
mod usage;
mod viz;
