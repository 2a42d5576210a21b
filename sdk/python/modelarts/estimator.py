"""``Estimator`` (training jobs, versions, configurations, specs/engines, logs) and
``VisualizationJob``, as the ModelArts SDK documents them, over trainyard's REST API."""

import datetime
import io
import os
import random
import string
import tarfile
import time
import uuid
import warnings

from modelarts.exception import ModelArtsError, TrainingJobFailed
from modelarts.local import LocalTrainingJob

#: Statuses after which a version no longer changes (statuses-and-errors.md §1).
TERMINAL_STATUSES = frozenset([0, 3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 20, 21, 22])

#: Status names by code (statuses-and-errors.md §1).
STATUS_NAMES = ["UNKNOWN", "INIT", "IMAGE_CREATING", "IMAGE_FAILED", "SUBMIT_TRYING", "SUBMIT_FAILED",
                "DELETE_FAILED", "WAITING", "RUNNING", "KILLING", "COMPLETED", "FAILED", "KILLED", "CANCELED",
                "LOST", "SCALING", "SUBMIT_MODEL_FAILED", "DEPLOY_SERVICE_FAILED", "CHECK_INIT", "CHECK_RUNNING",
                "CHECK_RUNNING_COMPLETED", "CHECK_FAILED", "MOUNT_FAILED"]

#: Status names by code as the ModelArts SDK's ``modelarts.estimator.JOB_STATE`` spells them
#: (``JOB_STATE[8] == "JOBSTAT_RUNNING"``), for every code the API uses (0-22).
JOB_STATE = ["JOBSTAT_" + _name for _name in STATUS_NAMES]

#: HTTP verbs, as the ModelArts SDK exports them from this module.
HTTPS_GET, HTTPS_POST, HTTPS_DELETE, HTTPS_PUT = "GET", "POST", "DELETE", "PUT"


class Record(dict):
    """A list entry usable both as a dict (``job["job_id"]``) and by attribute (``job.job_id``),
    as the ModelArts SDK's list entries are."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value


def _records(body, key):
    """``body`` with the entries of its list ``key`` as :class:`Record`s."""
    if isinstance(body, dict) and isinstance(body.get(key), list):
        body[key] = [Record(e) if isinstance(e, dict) else e for e in body[key]]
    return body

#: Largest byte window of one TJ-12 call.
LOG_WINDOW = 2048


def status_name(code):
    """``RUNNING`` for 8; ``?`` for an undocumented code."""
    return STATUS_NAMES[code] if isinstance(code, int) and 0 <= code < len(STATUS_NAMES) else "?"


def to_datetime(ms):
    """Milliseconds since the epoch (the API's timestamps) as an aware UTC ``datetime``."""
    if ms is None or ms == "":
        return None
    return datetime.datetime.fromtimestamp(int(ms) / 1000.0, tz=datetime.timezone.utc)

#: Seconds between status polls of ``wait=True``.
#: How much of each worker's log end a ``TrainingJobFailed`` reads, and how many lines it keeps.
FAILURE_TAIL_BYTES = 2048
FAILURE_TAIL_LINES = 10

POLL_INTERVAL = float(os.environ.get("MODELARTS_POLL_INTERVAL", "1"))


def _random_name(prefix):
    suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    return "%s-%s-%s" % (prefix, time.strftime("%m%d-%H%M%S"), suffix)


def _notification(value):
    """A job's ``notification`` from a dict or a topic's name (``None`` stays ``None``)."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"topic_urn": value, "events": []}
    raise TypeError("notification is a dict (topic_urn, events) or a topic's name")


def _checked(session, method, path, query=None, body=None):
    """A call whose failure raises (methods that return objects)."""
    status, payload = session.request(method, path, query, body)
    if not isinstance(payload, dict) or payload.get("is_success") is False or status >= 400:
        payload = payload if isinstance(payload, dict) else {}
        raise ModelArtsError(payload.get("error_code", "HTTP.%d" % status), payload.get("error_message", ""), status)
    return payload


def _sort(session, sort_by, kwargs, default=None):
    value = kwargs.pop("sortBy", None) or sort_by or default
    if kwargs:
        raise TypeError("unexpected arguments: %s" % ", ".join(sorted(kwargs)))
    return {session.sort_param(): value} if value else {}


#: Job-style sort keys the SDK documents for configuration lists, and their REST names.
CONFIG_SORT_KEYS = {"job_name": "config_name", "job_desc": "config_desc"}


def _config_sort(session, sort_by, kwargs):
    query = _sort(session, sort_by, kwargs)
    return {k: CONFIG_SORT_KEYS.get(v, v) for k, v in query.items()}


def _cell(row, column):
    value = row.get(column, "")
    if column == "create_time" and isinstance(value, int):
        return to_datetime(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if column == "status" and isinstance(value, int):
        return "%s(%d)" % (status_name(value), value)
    if column == "service_url":
        # The URL's access secret is a credential: tables leave it out.
        return str(value).split("?")[0]
    return str(value)


def _show(rows, columns):
    cells = [[_cell(r, c) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _data_args(inputs, dataset_id, dataset_version_id, data_source=None, required=True):
    given = [inputs is not None, dataset_id is not None or dataset_version_id is not None, data_source is not None]
    if sum(given) > 1:
        raise ValueError("give only one of inputs, dataset_id + dataset_version_id, data_source")
    if (dataset_id is None) != (dataset_version_id is None):
        raise ValueError("dataset_id and dataset_version_id go together")
    if required and not any(given):
        raise ValueError("one of inputs, dataset_id + dataset_version_id is required")
    out = {}
    if inputs is not None:
        out["data_url"] = inputs
    if dataset_id is not None:
        out["dataset_id"] = dataset_id
        out["dataset_version_id"] = dataset_version_id
    if data_source is not None:
        out["data_source"] = data_source
    return out


class _JobOperations(object):
    """Operations on one job / version, shared by ``Estimator`` and ``TrainingJob``."""

    session = None
    job_id = None
    version_id = None

    def _need(self, *names):
        for n in names:
            if getattr(self, n, None) in (None, ""):
                raise ValueError("%s is required for this operation" % n)

    def _version_path(self):
        self._need("job_id", "version_id")
        return "/training-jobs/%s/versions/%s" % (self.job_id, self.version_id)

    def get_job_info(self):
        """TJ-03: details of the version."""
        return self.session.call("GET", self._version_path())

    def update_job_description(self, description):
        """TJ-08."""
        self._need("job_id")
        return self.session.call("PUT", "/training-jobs/%s" % self.job_id, body={"job_desc": description})

    def get_job_log_file_list(self):
        """TJ-10: one log file name per worker."""
        return self.session.call("GET", self._version_path() + "/log/file-names")

    def get_job_log(self, log_file, start_byte=0, offset=2048):
        """TJ-12 with the SDK's byte window (``start_byte`` -1 = the end of the log)."""
        if int(start_byte) == -1 and int(offset) > 0:
            # "-1 = the latest offset-long part": the server reads backwards from the end.
            offset = -int(offset)
        query = {"log_file": log_file, "start_byte": start_byte, "offset": offset}
        return self.session.call("GET", self._version_path() + "/aom-log", query)

    def get_job_events(self):
        """trainyard extension: the run's event log, oldest first (``events``: ``seq``, ``time``
        in ms, ``kind``, ``level``, ``source``, ``message``, ``detail``)."""
        return self.session.call("GET", self._version_path() + "/events")

    def get_job_version_info(self):
        """TJ-05: the versions of the job (the SDK names it 'version info')."""
        self._need("job_id")
        return self.session.call("GET", "/training-jobs/%s/versions" % self.job_id)

    def stop_job_version(self):
        """TJ-07."""
        return self.session.call("POST", self._version_path() + "/stop")

    def delete_job_version(self):
        """TJ-04."""
        return self.session.call("DELETE", self._version_path())

    def delete_job(self):
        """TJ-09: the job with all its versions."""
        self._need("job_id")
        return self.session.call("DELETE", "/training-jobs/%s" % self.job_id)

    def wait(self, timeout=None, logs=True):
        """Polls TJ-03 until the version reaches a terminal status and returns the info dict.
        Prints each status change and, with ``logs`` (as SageMaker's ``logs=True``), every
        worker's new log lines as they come (``[i] `` prefixed when there are several)."""
        deadline = None if timeout is None else time.time() + timeout
        last = None
        offsets, partial = {}, {}
        while True:
            info = self.get_job_info()
            status = info.get("status")
            if logs and info.get("is_success") is not False:
                self._print_new_log_lines(info, offsets, partial)
            if info.get("is_success") is not False and status != last:
                print("job %s version %s: %s(%s)" % (info.get("job_name") or self.job_id, self.version_id,
                                                      status_name(status), status), flush=True)
                last = status
            if info.get("is_success") is False or status in TERMINAL_STATUSES:
                self.status = info.get("status", getattr(self, "status", None))
                if logs:
                    for index, rest in sorted(partial.items()):
                        if rest:
                            print(self._prefix(info, index) + rest, flush=True)
                if (getattr(self.session, "raise_on_failure", False) and info.get("is_success") is not False
                        and status != 10):
                    raise self.failure(info)
                return info
            if deadline is not None and time.time() > deadline:
                raise TimeoutError("job %s version %s still in status %s" % (self.job_id, self.version_id,
                                                                              info.get("status")))
            time.sleep(POLL_INTERVAL)

    def failure(self, info=None):
        """``TrainingJobFailed`` for this version (ended with ``info``, else as it is now): the
        worker that failed, how, and the last lines of its log (of worker 0 when none failed by
        itself). The supervisor ends each worker's log with ``[trainyard] worker I exited with
        code N`` (or ``killed by signal S``) and writes ``[trainyard] worker I failed; stopping
        this worker`` into the logs of the siblings it stops."""
        info = info or self.get_job_info()
        name = info.get("job_name") or str(self.job_id)
        tails = []
        for index in range(max(1, info.get("worker_server_num") or 1)):
            log_file = "%s.%d" % (name, index)
            page = self.get_job_log(log_file, start_byte=-1, offset=FAILURE_TAIL_BYTES)
            content = page.get("content") or "" if page.get("is_success") is not False else ""
            tails.append((index, log_file, content.splitlines()[-FAILURE_TAIL_LINES:]))
        culprit = None
        for _, _, lines in tails:
            for line in lines:
                if line.startswith("[trainyard] worker ") and line.endswith(" failed; stopping this worker"):
                    culprit = int(line.split()[2])
        worker = exit = None
        chosen = tails[0] if tails else (0, "%s.0" % name, [])
        for index, log_file, lines in tails:
            if culprit is not None and index != culprit:
                continue
            prefix = "[trainyard] worker %d " % index
            ends = [line[len(prefix):] for line in lines if line.startswith(prefix)
                    and (line[len(prefix):].startswith("killed by signal")
                         or (line[len(prefix):].startswith("exited with code ")
                             and line.rsplit(" ", 1)[-1] != "0"))]
            if ends:
                worker, exit, chosen = index, ends[-1], (index, log_file, lines)
                break
        status = info.get("status")
        return TrainingJobFailed(name, info.get("version_id", self.version_id), status, status_name(status),
                                 worker=worker, exit=exit, log_file=chosen[1], last_lines=chosen[2])

    @staticmethod
    def _prefix(info, index):
        return "[%d] " % index if (info.get("worker_server_num") or 1) > 1 else ""

    def _print_new_log_lines(self, info, offsets, partial):
        """Prints the complete lines each worker log gained since the last call (TJ-12 byte
        windows from the offset reached so far)."""
        name = info.get("job_name")
        if not name:
            return
        for index in range(max(1, info.get("worker_server_num") or 1)):
            log_file = "%s.%d" % (name, index)
            while True:
                page = self.get_job_log(log_file, start_byte=offsets.get(index, 0), offset=LOG_WINDOW)
                content = page.get("content") or "" if page.get("is_success") is not False else ""
                if not content:
                    break
                offsets[index] = offsets.get(index, 0) + len(content.encode("utf-8"))
                text = partial.get(index, "") + content
                lines = text.split("\n")
                partial[index] = lines.pop()
                for line in lines:
                    print(self._prefix(info, index) + line, flush=True)
                if len(content.encode("utf-8")) < LOG_WINDOW:
                    break


class TrainingJob(_JobOperations):
    """A training job version handle (returned by ``fit``, ``create_job_version`` and
    ``get_job_version_object_list``)."""

    def __init__(self, session, job_id, version_id=None, **attrs):
        self.session = session
        self.job_id = job_id
        self.version_id = version_id
        self.job_name = attrs.get("job_name")
        self.version_name = attrs.get("version_name")
        self.status = attrs.get("status")
        self.create_time = attrs.get("create_time")
        self.resource_id = attrs.get("resource_id")

    def __repr__(self):
        return "TrainingJob(job_id=%r, version_id=%r, job_name=%r, status=%r)" % (
            self.job_id, self.version_id, self.job_name, self.status)


class JobConfig(object):
    """A training job configuration handle (the SDK doc calls it a "TrainingJob" object)."""

    def __init__(self, session, config_name, **attrs):
        self.session = session
        self.config_name = config_name
        self.config_desc = attrs.get("config_desc")
        self.create_time = attrs.get("create_time")

    def get_job_configs_info(self):
        """TC-05."""
        return self.session.call("GET", "/training-job-configs/%s" % self.config_name)

    def delete_job_configs(self):
        """TC-04."""
        return self.session.call("DELETE", "/training-job-configs/%s" % self.config_name)

    def __repr__(self):
        return "JobConfig(config_name=%r)" % self.config_name


class Estimator(_JobOperations):
    """Training jobs: ``Estimator(modelarts_session, **kwargs)`` (see sdk.md §3)."""

    def __init__(self, modelarts_session, job_id=None, version_id=None, config_name=None,
                 train_instance_count=None, train_instance_type=None, output_path=None, code_dir=None,
                 boot_file=None, model_name=None, hyperparameters=None, log_url=None, framework_type=None,
                 framework_version=None, job_description=None, user_image_url=None, user_command=None,
                 environment=None, pool_id=None, nas_type=None, nas_share_addr=None, nas_mount_path=None,
                 volumes=None, notification=None, **kwargs):
        self.session = modelarts_session
        #: ``notification`` of the jobs ``fit`` creates: ``{"topic_urn": ..., "events": [...]}``
        #: (a topic the server configures; ``events`` by the event log's or ModelArts' names),
        #: or just the topic's name.
        self.notification = _notification(notification)
        #: Dedicated resource pool; ``poolId`` (the REST spelling) is accepted too.
        self.pool_id = pool_id or kwargs.pop("poolId", None)
        # Every argument reaches the request or is refused here: a keyword nobody reads would
        # be a setting the job silently goes without.
        if kwargs:
            raise TypeError("Estimator got unexpected keyword arguments: %s" % ", ".join(sorted(kwargs)))
        #: ``volumes`` items (§2.3), sent as given; the ``nas_*`` arguments add an ``nfs`` one.
        self.volumes = list(volumes or [])
        if nas_type or nas_share_addr or nas_mount_path:
            if nas_type not in (None, "nfs") or not nas_share_addr or not nas_mount_path:
                raise ValueError("nas_type='nfs', nas_share_addr and nas_mount_path go together")
            self.volumes.append({"nfs": {"id": nas_share_addr, "src_path": nas_share_addr,
                                         "dest_path": nas_mount_path, "read_only": False}})
        self.job_id = job_id
        self.version_id = version_id
        self.config_name = config_name
        self.train_instance_count = train_instance_count
        self.train_instance_type = train_instance_type
        self.output_path = output_path
        self.code_dir = code_dir
        self.boot_file = boot_file
        self.model_name = model_name
        self.hyperparameters = hyperparameters
        self.log_url = log_url
        self.framework_type = framework_type
        self.framework_version = framework_version
        self.job_description = job_description
        self.user_image_url = user_image_url
        self.user_command = user_command
        #: Local training's environment; an online job warns that it does not use it.
        self.environment = environment

    # -- run configuration -> REST -------------------------------------------------------

    def _spec_id(self):
        specs = _checked(self.session, "GET", "/job/resource-specs", {"job_type": "train"}).get("specs", [])
        wanted = str(self.train_instance_type).strip().lower()
        for s in specs:
            if str(s.get("spec_code", "")).lower() == wanted:
                return s["spec_id"]
        raise ValueError("unknown train_instance_type %r; choose one of %s" % (
            self.train_instance_type, [s.get("spec_code") for s in specs]))

    def _engine_id(self):
        engines = _checked(self.session, "GET", "/job/ai-engines", {"job_type": "train"}).get("engines", [])
        for e in engines:
            if (e.get("engine_name", "").lower() == str(self.framework_type).lower()
                    and (self.framework_version is None or e.get("engine_version") == self.framework_version)):
                return e["engine_id"]
        raise ValueError("unknown framework %r %r; see Estimator.get_framework_list" % (
            self.framework_type, self.framework_version))

    def _model_id(self):
        query = {"search_content": self.model_name, "per_page": 100}
        models = _checked(self.session, "GET", "/built-in-algorithms", query).get("models", [])
        for m in models:
            if m.get("model_name") == self.model_name:
                return m["model_id"]
        raise ValueError("unknown built-in algorithm %r" % self.model_name)

    def _code_urls(self, name):
        """``(app_url, boot_file_url)``: a local ``code_dir`` is uploaded to the project's storage
        through trainyard's upload endpoint (``PUT /v1/{project_id}/storage/upload``, a tar
        archive, swapped in atomically on the server)."""
        code_dir, boot_file = self.code_dir, self.boot_file
        if not code_dir or not os.path.isdir(code_dir):
            if boot_file and code_dir and not boot_file.startswith(("/", "obs://", "s3://")):
                boot_file = code_dir.rstrip("/") + "/" + boot_file
            return code_dir, boot_file
        local = os.path.abspath(code_dir)
        if not boot_file:
            raise ValueError("boot_file is required with code_dir")
        rel_boot = boot_file
        if os.path.isabs(boot_file):
            rel_boot = os.path.relpath(os.path.abspath(boot_file), local)
        if rel_boot.startswith(".."):
            raise ValueError("boot_file %r is not inside code_dir %r" % (boot_file, code_dir))
        if not os.path.isfile(os.path.join(local, rel_boot)):
            raise ValueError("boot_file %s does not exist (code_dir %s)" % (os.path.join(local, rel_boot), local))
        folder = "/sdk-code/%s-%s/" % (name, uuid.uuid4().hex[:8])
        archive = io.BytesIO()
        skip = {"__pycache__", ".git"}
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for entry in sorted(os.listdir(local)):
                if entry not in skip:
                    tar.add(os.path.join(local, entry), arcname=entry,
                            filter=lambda info: None if os.path.basename(info.name) in skip else info)
        status, payload = self.session.request("PUT", "/storage/upload", {"path": folder},
                                               raw=archive.getvalue(), content_type="application/x-tar")
        if status != 200 or not payload.get("is_success"):
            raise ModelArtsError(payload.get("error_code", "ModelArts.0010"),
                                 payload.get("error_message", "code upload failed"), status)
        return folder, folder + rel_boot.replace(os.sep, "/")

    def _remove_upload(self, app_url):
        """Takes back the code folder ``_code_urls`` uploaded (``/sdk-code/...``) for a job the
        server refused; best effort."""
        if app_url and str(app_url).startswith("/sdk-code/") and self.code_dir and os.path.isdir(self.code_dir):
            try:
                self.session.request("DELETE", "/storage/upload", {"path": app_url})
            except (ConnectionError, ValueError):
                pass

    def _run_config(self, name, need_algorithm=True):
        for arg in ("train_instance_count", "output_path"):
            if getattr(self, arg) in (None, ""):
                raise ValueError("%s is required" % arg)
        if self.train_instance_type in (None, "") and not self.pool_id:
            raise ValueError("Parameter train_instance_type or pool_id is needed")
        config = {
            "worker_server_num": int(self.train_instance_count),
            "train_url": self.output_path,
        }
        if self.train_instance_type not in (None, ""):
            config["spec_id"] = self._spec_id()
        if self.pool_id:
            config["pool_id"] = self.pool_id
        if self.log_url:
            config["log_url"] = self.log_url
        if self.volumes:
            config["volumes"] = self.volumes
        if self.environment is not None:
            # The documented sample switches a local estimator (with its environment) to an
            # online flavor; the REST API has no field for it, so say so rather than drop it.
            warnings.warn("environment only applies to local training (train_instance_type='local'); the "
                          "online job runs in its engine or image (user_image_url), so %r is not used"
                          % getattr(self.environment, "name", self.environment), stacklevel=3)
        if self.hyperparameters:
            config["parameter"] = [{"label": str(p["label"]), "value": str(p["value"])} for p in self.hyperparameters]
        if self.model_name:
            config["model_id"] = self._model_id()
        elif self.user_image_url:
            config["user_image_url"] = self.user_image_url
            config["user_command"] = self.user_command
            if self.code_dir:
                config["app_url"], _ = self._code_urls(name)
        elif self.code_dir or self.boot_file:
            # The engine first: an unknown framework must not leave an upload behind.
            if self.framework_type:
                config["engine_id"] = self._engine_id()
            config["app_url"], config["boot_file_url"] = self._code_urls(name)
        elif need_algorithm:
            raise ValueError("give model_name, code_dir + boot_file, or user_image_url + user_command")
        return config

    # -- training jobs -------------------------------------------------------------------

    def fit(self, inputs=None, dataset_id=None, dataset_version_id=None, wait=False, job_name=None, logs=None,
            notification=None):
        """TJ-01 (or a local run with ``train_instance_type='local'``); returns a job object.

        ``wait=True`` waits for the run's end, printing its status changes and (unless
        ``logs=False``) every worker's log lines as they come; ``logs=True`` alone waits and
        streams too, as SageMaker's ``fit(logs=True)``. With ``raise_on_failure`` on the session,
        a run that does not complete raises ``TrainingJobFailed``. A job the server refuses
        takes its uploaded code folder back. ``notification`` (as the constructor's) overrides
        the estimator's for this job."""
        if logs:
            wait = True
        job_name = job_name or _random_name("job")
        if str(self.train_instance_type).lower() == "local":
            if dataset_id is not None or dataset_version_id is not None:
                raise ValueError("local training supports inputs only")
            job = LocalTrainingJob.start(self, job_name, inputs)
            if wait:
                job.wait()
            return job
        config = self._run_config(job_name)
        config.update(_data_args(inputs, dataset_id, dataset_version_id))
        body = {"job_name": job_name, "config": config}
        if self.job_description:
            body["job_desc"] = self.job_description
        notification = _notification(notification) or self.notification
        if notification:
            body["notification"] = notification
        try:
            created = _checked(self.session, "POST", "/training-jobs", body=body)
        except ModelArtsError:
            self._remove_upload(config.get("app_url"))
            raise
        job = TrainingJob(self.session, created["job_id"], created["version_id"], job_name=created.get("job_name"),
                          version_name=created.get("version_name"), status=created.get("status"),
                          create_time=created.get("create_time"), resource_id=created.get("resource_id"))
        if wait:
            info = job.wait(logs=logs is not False)
            if info.get("status") != 10:
                print("training job %s ended in status %s(%s); see job.get_job_log(...)" % (
                    job_name, status_name(info.get("status")), info.get("status")))
        return job

    def sweep(self, parameters, sweep_name=None, concurrency=1, samples=None, seed=None, objective=None,
              inputs=None, dataset_id=None, dataset_version_id=None):
        """trainyard extension: runs this estimator's job once per combination of ``parameters``
        (name -> list of values: the grid; with ``samples``, that many seeded draws, a range given
        as ``{"min": .., "max": ..}``), at most ``concurrency`` at once. ``objective``
        (``{"metric": "accuracy", "goal": "max"}``) names the best run by the ``metrics.json``
        each run writes into its output folder. Returns the sweep (``sweep_id``, ``progress``,
        ``runs``, ``best``); :meth:`get_sweep` reads it again."""
        sweep_name = sweep_name or _random_name("sweep")
        config = self._run_config(sweep_name)
        config.update(_data_args(inputs, dataset_id, dataset_version_id))
        body = {"sweep_name": sweep_name, "config": config, "parameters": parameters,
                "concurrency": concurrency}
        for key, value in (("samples", samples), ("seed", seed), ("objective", objective),
                           ("job_desc", self.job_description)):
            if value is not None:
                body[key] = value
        try:
            return Record(_checked(self.session, "POST", "/sweeps", body=body))
        except ModelArtsError:
            self._remove_upload(config.get("app_url"))
            raise

    @staticmethod
    def get_sweep(modelarts_session, sweep_id):
        """trainyard extension: a sweep with its progress, runs and best run."""
        return Record(_checked(modelarts_session, "GET", "/sweeps/%s" % sweep_id))

    @staticmethod
    def stop_sweep(modelarts_session, sweep_id):
        """trainyard extension: stops every run of a sweep that has not ended."""
        return Record(_checked(modelarts_session, "POST", "/sweeps/%s/stop" % sweep_id))

    @staticmethod
    def get_job_list(modelarts_session, status=None, per_page=10, page=1, sort_by=None, order="desc",
                     search_content=None, **kwargs):
        """TJ-02."""
        query = {"status": status, "per_page": per_page, "page": page, "order": order,
                 "search_content": search_content}
        query.update(_sort(modelarts_session, sort_by, kwargs, "job_name"))
        return _records(modelarts_session.call("GET", "/training-jobs", query), "jobs")

    @staticmethod
    def delete_job_by_id(modelarts_session, job_id):
        """TJ-09."""
        return modelarts_session.call("DELETE", "/training-jobs/%s" % job_id)

    # -- versions ------------------------------------------------------------------------

    def create_job_version(self, job_id=None, pre_version_id=None, inputs=None, dataset_id=None,
                           dataset_version_id=None, wait=False, job_desc=None):
        """TJ-06; returns a job object for the new version."""
        job_id = job_id or self.job_id
        if job_id is None or pre_version_id is None:
            raise ValueError("job_id and pre_version_id are required")
        config = self._run_config("job%s" % job_id, need_algorithm=False)
        config.update(_data_args(inputs, dataset_id, dataset_version_id, required=False))
        config["pre_version_id"] = int(pre_version_id)
        body = {"config": config}
        if job_desc is not None:
            body["job_desc"] = job_desc
        created = _checked(self.session, "POST", "/training-jobs/%s/versions" % job_id, body=body)
        job = TrainingJob(self.session, created.get("job_id", job_id), created["version_id"],
                          job_name=created.get("job_name"), version_name=created.get("version_name"),
                          status=created.get("status"), create_time=created.get("create_time"))
        if wait:
            job.wait()
        return job

    def get_job_version_object_list(self, is_show=True):
        """TJ-05 as a list of job objects, one per version."""
        self._need("job_id")
        info = _checked(self.session, "GET", "/training-jobs/%s/versions" % self.job_id)
        versions = info.get("versions", [])
        objs = [TrainingJob(self.session, self.job_id, v.get("version_id"), job_name=info.get("job_name"),
                            version_name=v.get("version_name"), status=v.get("status"),
                            create_time=to_datetime(v.get("create_time"))) for v in versions]
        if is_show:
            _show(versions, ["version_id", "version_name", "status", "create_time", "duration"])
        return objs

    # -- configurations ------------------------------------------------------------------

    def create_job_configs(self, config_name=None, config_desc=None, inputs=None, dataset_id=None,
                           dataset_version_id=None):
        """TC-01; returns a configuration object."""
        config_name = config_name or "config-" + time.strftime("%Y%m%d%H%M%S")
        body = {"config_name": config_name}
        body.update(self._run_config(config_name))
        body.update(_data_args(inputs, dataset_id, dataset_version_id, required=False))
        if config_desc is not None:
            body["config_desc"] = config_desc
        _checked(self.session, "POST", "/training-job-configs", body=body)
        return JobConfig(self.session, config_name, config_desc=config_desc)

    @staticmethod
    def get_job_configs_list(modelarts_session, per_page=10, page=1, sort_by=None, order="asc",
                             search_content=None, **kwargs):
        """TC-02."""
        query = {"per_page": per_page, "page": page, "order": order, "search_content": search_content}
        query.update(_config_sort(modelarts_session, sort_by, kwargs))
        return _records(modelarts_session.call("GET", "/training-job-configs", query), "configs")

    @staticmethod
    def get_job_configs_object_list(modelarts_session, is_show=True, per_page=10, page=1, sort_by=None,
                                    order="asc", search_content=None, **kwargs):
        """TC-02 as a list of configuration objects."""
        query = {"per_page": per_page, "page": page, "order": order, "search_content": search_content}
        query.update(_config_sort(modelarts_session, sort_by, kwargs))
        configs = _checked(modelarts_session, "GET", "/training-job-configs", query).get("configs", [])
        if is_show:
            _show(configs, ["config_name", "config_desc", "engine_name", "create_time"])
        return [JobConfig(modelarts_session, c["config_name"], config_desc=c.get("config_desc"),
                          create_time=to_datetime(c.get("create_time"))) for c in configs]

    def get_job_configs_info(self):
        """TC-05."""
        self._need("config_name")
        return JobConfig(self.session, self.config_name).get_job_configs_info()

    def update_job_configs(self, config_name=None, config_desc=None, inputs=None, dataset_id=None,
                           dataset_version_id=None, data_source=None):
        """TC-03 (flat body from this Estimator's run configuration)."""
        config_name = config_name or self.config_name
        if not config_name:
            raise ValueError("config_name is required")
        body = self._run_config(config_name)
        body.update(_data_args(inputs, dataset_id, dataset_version_id, data_source, required=False))
        if config_desc is not None:
            body["config_desc"] = config_desc
        return self.session.call("PUT", "/training-job-configs/%s" % config_name, body=body)

    def delete_job_configs(self, config_name=None):
        """TC-04."""
        config_name = config_name or self.config_name
        if not config_name:
            raise ValueError("config_name is required")
        return JobConfig(self.session, config_name).delete_job_configs()

    # -- catalogs ------------------------------------------------------------------------

    @staticmethod
    def get_train_instance_types(modelarts_session):
        """RS-01: the flavor codes ``train_instance_type`` accepts (a dict on failure)."""
        body = modelarts_session.call("GET", "/job/resource-specs", {"job_type": "train"})
        if body.get("is_success") is False:
            return body
        return [s["spec_code"] for s in body.get("specs", [])]

    @staticmethod
    def get_framework_list(modelarts_session):
        """RS-02 as ``[{framework_type, framework_version}]`` (a dict on failure)."""
        body = modelarts_session.call("GET", "/job/ai-engines", {"job_type": "train"})
        if body.get("is_success") is False:
            return body
        return [{"framework_type": e["engine_name"], "framework_version": e["engine_version"]}
                for e in body.get("engines", [])]

    @staticmethod
    def get_built_in_algorithms(modelarts_session):
        """TJ-11 (all pages); each model's ``parameter`` parsed into a list."""
        import json
        body = modelarts_session.call("GET", "/built-in-algorithms", {"per_page": 100})
        for m in body.get("models", []) or []:
            if isinstance(m.get("parameter"), str):
                try:
                    m["parameter"] = json.loads(m["parameter"])
                except ValueError:
                    pass
        return body


class VisualizationJob(object):
    """Visualization (TensorBoard) jobs: ``VisualizationJob(modelarts_session, visualization_id=None)``."""

    def __init__(self, modelarts_session, visualization_id=None, **attrs):
        self.session = modelarts_session
        self.visualization_id = None if visualization_id is None else str(visualization_id)
        self.job_id = self.visualization_id
        self.job_name = attrs.get("job_name")
        self.status = attrs.get("status")
        self.create_time = attrs.get("create_time")
        self.is_success = attrs.get("is_success")
        self.service_url = attrs.get("service_url")

    def __repr__(self):
        return "VisualizationJob(visualization_id=%r, job_name=%r, status=%r)" % (
            self.visualization_id, self.job_name, self.status)

    def _path(self):
        if not self.visualization_id:
            raise ValueError("visualization_id is required for this operation")
        return "/visualization-jobs/%s" % self.visualization_id

    def create_visualization_job(self, train_url, job_name=None, job_desc=None):
        """VJ-01; returns a new ``VisualizationJob`` object."""
        body = {"job_name": job_name or _random_name("viz")[:20], "train_url": train_url}
        if job_desc is not None:
            body["job_desc"] = job_desc
        created = _checked(self.session, "POST", "/visualization-jobs", body=body)
        return VisualizationJob(self.session, created["job_id"], job_name=created.get("job_name"),
                                status=created.get("status"), create_time=created.get("create_time"),
                                is_success=created.get("is_success"), service_url=created.get("service_url"))

    @staticmethod
    def get_visualization_job_list(modelarts_session, status=None, per_page=10, page=1, sort_by=None,
                                   order="asc", search_content=None, **kwargs):
        """VJ-02."""
        query = {"status": status, "per_page": per_page, "page": page, "order": order,
                 "search_content": search_content}
        query.update(_sort(modelarts_session, sort_by, kwargs, "job_name"))
        return _records(modelarts_session.call("GET", "/visualization-jobs", query), "jobs")

    @staticmethod
    def get_visualization_job_object_list(modelarts_session, is_show=True, status=None, per_page=10, page=1,
                                          sort_by=None, order="asc", search_content=None, **kwargs):
        """VJ-02 as a list of ``VisualizationJob`` objects."""
        query = {"status": status, "per_page": per_page, "page": page, "order": order,
                 "search_content": search_content}
        query.update(_sort(modelarts_session, sort_by, kwargs, "job_name"))
        body = _checked(modelarts_session, "GET", "/visualization-jobs", query)
        jobs = body.get("jobs", [])
        if is_show:
            _show(jobs, ["job_id", "job_name", "status", "create_time", "service_url"])
        return [VisualizationJob(modelarts_session, j["job_id"], job_name=j.get("job_name"), status=j.get("status"),
                                 create_time=to_datetime(j.get("create_time")), is_success=True,
                                 service_url=j.get("service_url")) for j in jobs]

    def get_visualization_job_info(self):
        """VJ-03."""
        return self.session.call("GET", self._path())

    def update_visualization_job(self, job_desc):
        """VJ-04."""
        return self.session.call("PUT", self._path(), body={"job_desc": job_desc})

    def stop_visualization_job(self):
        """VJ-06."""
        return self.session.call("POST", self._path() + "/stop")

    def restart_visualization_job(self):
        """VJ-07."""
        return self.session.call("POST", self._path() + "/restart")

    def delete_visualization_job(self):
        """VJ-05."""
        return self.session.call("DELETE", self._path())
