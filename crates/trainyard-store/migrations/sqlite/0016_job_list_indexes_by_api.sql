-- The v1 list and the v2 search each read the jobs of one API (`api = 1` or `2`, since 0006),
-- which the list indexes of 0003 did not hold: every row a page skipped was read from the
-- table to check it (a deep page at 100k jobs: 777 requests/s before 0006, 227 after). With
-- `api` in each index after `deleted`, a page's offset is skipped in the index alone again.
DROP INDEX jobs_list_create;
DROP INDEX jobs_list_name;
DROP INDEX jobs_list_desc;
DROP INDEX jobs_list_status;
DROP INDEX jobs_list_count;
CREATE INDEX jobs_list_create  ON jobs (project_id, deleted, api, workspace_id, create_time, id);
CREATE INDEX jobs_list_name    ON jobs (project_id, deleted, api, workspace_id, name, id);
CREATE INDEX jobs_list_desc    ON jobs (project_id, deleted, api, workspace_id, description, id);
CREATE INDEX jobs_list_status  ON jobs (project_id, deleted, api, workspace_id, latest_status, id);
CREATE INDEX jobs_list_count   ON jobs (project_id, deleted, api, workspace_id, version_count, id);
