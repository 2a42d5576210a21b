-- What one server reports to the others sharing this database (last write wins): the
-- scheduling duty's holder writes its capacity here, which the replicas without the duty show
-- in RS-01 and /metrics.
CREATE TABLE shared_records (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    update_time BIGINT NOT NULL
);
