//! trainyard-store's integration tests: one test binary, a module per suite (`store`: jobs and
//! versions; `committed`: the mark of the committed state; `viz`: visualization jobs;
//! `events`: run event logs; `notifications`: the webhook outbox; `sweeps`: sweeps and their
//! runs; `quota`: a project's limits under concurrent creates), each test run on SQLite and on
//! PostgreSQL; `round_trips`: the round trips of a run's life on SQLite.

mod committed;
mod events;
mod fixtures;
mod notifications;
mod quota;
mod round_trips;
mod store;
mod sweeps;
mod usage;
mod viz;
