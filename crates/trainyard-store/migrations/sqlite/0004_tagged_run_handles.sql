-- Run handles carry their backend: {"backend":"local",...} or {"backend":"slurm",...}.
UPDATE versions SET handle = json_set(handle, '$.backend', 'local')
    WHERE handle IS NOT NULL AND json_valid(handle) AND json_extract(handle, '$.shim_pid') IS NOT NULL
      AND json_extract(handle, '$.backend') IS NULL;
UPDATE versions SET handle = json_set(handle, '$.backend', 'slurm')
    WHERE handle IS NOT NULL AND json_valid(handle) AND json_extract(handle, '$.slurm_job_id') IS NOT NULL
      AND json_extract(handle, '$.backend') IS NULL;
UPDATE viz_jobs SET handle = json_set(handle, '$.backend', 'local')
    WHERE handle IS NOT NULL AND json_valid(handle) AND json_extract(handle, '$.shim_pid') IS NOT NULL
      AND json_extract(handle, '$.backend') IS NULL;
