-- TJ-02 lists one project's live jobs of one workspace, sorted by a column then id: one index
-- per sort key gives the page without sorting the whole table, and the count from an index.
DROP INDEX IF EXISTS jobs_project_create;
CREATE INDEX jobs_list_create  ON jobs (project_id, deleted, workspace_id, create_time, id);
CREATE INDEX jobs_list_name    ON jobs (project_id, deleted, workspace_id, name, id);
CREATE INDEX jobs_list_desc    ON jobs (project_id, deleted, workspace_id, description, id);
CREATE INDEX jobs_list_status  ON jobs (project_id, deleted, workspace_id, latest_status, id);
CREATE INDEX jobs_list_count   ON jobs (project_id, deleted, workspace_id, version_count, id);

-- Live jobs per project and workspace, kept by triggers, so unfiltered lists and the quota
-- check do not count the whole table.
CREATE TABLE job_counts (
    project_id   TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    live         BIGINT  NOT NULL,
    PRIMARY KEY (project_id, workspace_id)
);
INSERT INTO job_counts (project_id, workspace_id, live)
    SELECT project_id, workspace_id, count(*) FROM jobs WHERE deleted = 0 GROUP BY project_id, workspace_id;

CREATE FUNCTION jobs_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (project_id, workspace_id, live) VALUES (NEW.project_id, NEW.workspace_id, 1)
        ON CONFLICT (project_id, workspace_id) DO UPDATE SET live = job_counts.live + 1;
    RETURN NULL;
END $$;
CREATE FUNCTION jobs_count_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE job_counts SET live = live - 1 WHERE project_id = OLD.project_id AND workspace_id = OLD.workspace_id;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs FOR EACH ROW WHEN (NEW.deleted = 0)
    EXECUTE FUNCTION jobs_count_insert();
CREATE TRIGGER jobs_count_hide AFTER UPDATE OF deleted ON jobs FOR EACH ROW
    WHEN (OLD.deleted = 0 AND NEW.deleted <> 0) EXECUTE FUNCTION jobs_count_remove();
CREATE TRIGGER jobs_count_remove AFTER DELETE ON jobs FOR EACH ROW WHEN (OLD.deleted = 0)
    EXECUTE FUNCTION jobs_count_remove();
