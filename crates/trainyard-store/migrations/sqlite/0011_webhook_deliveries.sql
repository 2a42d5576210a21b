-- Notifications: what a job asked for (its topic and events) and the outbox of webhook
-- deliveries. A delivery row is written in the transaction that appends its run event, so an
-- event that is durable has its deliveries too (at-least-once). Servers sharing the database
-- claim a due row for a while (claim_until, claim_token) before sending it, so one sends it.
-- Deliveries and their attempts outlive a purged version: they are the record of what was sent.
CREATE TABLE job_notifications (
    job_id  INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    topic   TEXT    NOT NULL,
    events  TEXT    NOT NULL
);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   TEXT    NOT NULL,
    job_id       INTEGER NOT NULL,
    version_id   INTEGER NOT NULL,
    event_seq    INTEGER NOT NULL,
    event        TEXT    NOT NULL,
    webhook      TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    create_time  INTEGER NOT NULL,
    next_time    INTEGER NOT NULL,
    claim_until  INTEGER,
    claim_token  TEXT,
    last_error   TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_time) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_project ON webhook_deliveries (project_id, id);

CREATE TABLE webhook_attempts (
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    time         INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
