-- The event log of each version's run: what happened to it and when (created, queued, started,
-- worker exited, stop requested, ended...), one row per event in the order recorded. `seq`
-- orders the events (of one version and across versions); `detail` is the event as JSON. The
-- rows go with their version when it is purged.
CREATE TABLE run_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    time       INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX run_events_version ON run_events (version_id, seq);
