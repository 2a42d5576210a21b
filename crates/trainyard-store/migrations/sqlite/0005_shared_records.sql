-- PostgreSQL's 0005 adds the records servers sharing a database report to each other. An
-- SQLite file has one server: nothing to add. Kept so both engines have the same migration
-- versions.
SELECT 1;
