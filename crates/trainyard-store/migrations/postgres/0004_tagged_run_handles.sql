-- SQLite's 0004 tagged the run handles of databases written before handles carried their
-- backend. No PostgreSQL database predates tagged handles: nothing to change. Kept so both
-- engines have the same migration versions.
SELECT 1;
