"""Errors raised by the SDK."""


class ModelArtsError(Exception):
    """A request the server refused (where the SDK returns an object, not a dict)."""

    def __init__(self, error_code, error_msg, http_status=None):
        super().__init__("%s: %s" % (error_code, error_msg))
        self.error_code = error_code
        self.error_msg = error_msg
        self.http_status = http_status


class TrainingJobFailed(ModelArtsError):
    """A training job version that ended without completing, raised by ``fit(wait=True)`` and
    ``job.wait()`` when the session asks for it (``Session(raise_on_failure=True)`` or
    ``MODELARTS_RAISE_ON_FAILURE=1``; off by default, as in the official SDK, where a failed
    run returns normally).

    ``status`` is the version's status code and ``status_name`` its name (``FAILED``);
    ``worker`` the index of the worker that failed (``None`` when none failed by itself: a
    stopped or lost run), ``exit`` what ended it (``exited with code 3``, ``killed by signal
    9``), ``log_file`` the log the ``last_lines`` (a list of strings) come from."""

    def __init__(self, job_name, version_id, status, status_name, worker=None, exit=None, log_file=None,
                 last_lines=None):
        what = "training job %s version %s ended %s(%s)" % (job_name, version_id, status_name, status)
        if worker is not None:
            what += ": worker %s %s" % (worker, exit)
        lines = list(last_lines or [])
        if lines:
            what += "\nlast lines of %s:\n" % log_file + "\n".join("  " + line for line in lines)
        super().__init__("ModelArts.JobFailed", what)
        self.job_name = job_name
        self.version_id = version_id
        self.status = status
        self.status_name = status_name
        self.worker = worker
        self.exit = exit
        self.log_file = log_file
        self.last_lines = lines
