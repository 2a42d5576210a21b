-- Retries (config.retry_policy): a version's run may be started again. `attempt` counts its
-- starts (1 for the first); `retry_at` (ms since the epoch) is set while the next attempt
-- waits for its pause, so a restart during it runs exactly one next attempt;
-- `retry_consecutive_any` counts the `on_any_failure` retries in a row.
ALTER TABLE versions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE versions ADD COLUMN retry_at INTEGER;
ALTER TABLE versions ADD COLUMN retry_consecutive_any INTEGER NOT NULL DEFAULT 0;
