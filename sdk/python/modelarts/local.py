"""Local training (``train_instance_type='local'``): the boot file runs on the caller's machine.

The job runs ``<python> <boot_file> [--data_url=<inputs>] [--train_url=<output_path>]
[--<label>=<value> ...]`` with the code directory as working directory, one worker
(``RANK=0``, ``WORLD_SIZE=1``, ``DLS_TASK_INDEX=0``). ``<python>`` is the interpreter running
the SDK, or ``$MODELARTS_LOCAL_PYTHON``. An ``Environment`` with pip packages gets its own
virtual environment (``$MODELARTS_LOCAL_DIR/envs/<name>``, made once per package list, with the
caller's site packages visible) and the job runs with its interpreter; packages pip cannot
install are reported in the log and the job runs without them. Conda packages need conda, which
local mode does not use: they are listed in the log.
Output (the log ``<job_name>.0``, ``status.json``) goes to
``$MODELARTS_LOCAL_DIR/<job_name>-<id>/`` (default ``~/.modelarts/local-jobs``). No request
reaches the server.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid


def _prepare_environment(envir, base, python, log):
    """The interpreter for ``envir``: a virtual environment with its pip packages, made once."""
    def note(text):
        log.write(("[modelarts local] %s\n" % text).encode())
        log.flush()

    conda = getattr(envir, "conda", None)
    pip_packages = list(getattr(conda, "pip_packages", None) or [])
    conda_packages = list(getattr(conda, "conda_packages", None) or [])
    if conda_packages:
        note("environment %s: conda packages %s are not installed in local mode" % (envir.name, conda_packages))
    if not pip_packages:
        note("environment %s: using %s" % (envir.name, python))
        return python
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in envir.name) or "env"
    venv = os.path.join(base, "envs", safe)
    marker = os.path.join(venv, "trainyard-packages.json")
    venv_python = os.path.join(venv, "bin", "python")
    try:
        with open(marker) as f:
            ready = json.load(f) == pip_packages
    except (OSError, ValueError):
        ready = False
    if not ready:
        note("environment %s: installing %s into %s" % (envir.name, " ".join(pip_packages), venv))
        made = subprocess.run([python, "-m", "venv", "--system-site-packages", venv], stdout=log,
                              stderr=subprocess.STDOUT)
        if made.returncode != 0:
            note("environment %s: cannot create a virtual environment; using %s" % (envir.name, python))
            return python
        pip = subprocess.run([venv_python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
                             + pip_packages, stdout=log, stderr=subprocess.STDOUT)
        if pip.returncode != 0:
            note("environment %s: pip could not install %s; the job runs without them" % (envir.name, pip_packages))
        else:
            with open(marker, "w") as f:
                json.dump(pip_packages, f)
    note("environment %s: using %s" % (envir.name, venv_python))
    return venv_python


class LocalTrainingJob(object):
    """A job object for a local run, with the methods of an online one that make sense locally."""

    def __init__(self, job_name, run_dir, process):
        self.job_name = job_name
        self.job_id = "local-" + os.path.basename(run_dir)
        self.version_id = "1"
        self.run_dir = run_dir
        self._process = process
        self.create_time = int(time.time() * 1000)
        self.status = 8

    @classmethod
    def start(cls, estimator, job_name, inputs):
        code_dir = estimator.code_dir
        if not code_dir or not os.path.isdir(code_dir):
            raise ValueError("local training needs code_dir to be a local directory, got %r" % code_dir)
        if not estimator.boot_file:
            raise ValueError("boot_file is required")
        boot = estimator.boot_file
        if not os.path.isabs(boot):
            boot = os.path.join(code_dir, boot)
        if not os.path.isfile(boot):
            raise ValueError("boot_file %r not found" % boot)
        base = os.environ.get("MODELARTS_LOCAL_DIR") or os.path.join(os.path.expanduser("~"), ".modelarts",
                                                                       "local-jobs")
        run_dir = os.path.join(base, "%s-%s" % (job_name, uuid.uuid4().hex[:8]))
        os.makedirs(run_dir)
        python = os.environ.get("MODELARTS_LOCAL_PYTHON") or sys.executable
        argv = [python, boot]
        if inputs:
            argv.append("--data_url=%s" % inputs)
        if estimator.output_path:
            argv.append("--train_url=%s" % estimator.output_path)
        for p in estimator.hyperparameters or []:
            argv.append("--%s=%s" % (p["label"], p["value"]))
        env = dict(os.environ, RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", DLS_TASK_INDEX="0", DLS_TASK_NUMBER="1",
                   PYTHONUNBUFFERED="1")
        log_path = os.path.join(run_dir, "%s.0" % job_name)
        with open(log_path, "wb") as log:
            envir = estimator.environment
            if envir is not None:
                argv[0] = _prepare_environment(envir, base, python, log)
            process = subprocess.Popen(argv, cwd=code_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        job = cls(job_name, run_dir, process)
        job._write_status()
        return job

    def _poll(self):
        code = self._process.poll()
        if code is not None and self.status in (8, 9):
            self.status = 12 if self.status == 9 else (10 if code == 0 else 11)
            self._write_status()
        return code

    def _write_status(self):
        with open(os.path.join(self.run_dir, "status.json"), "w") as f:
            json.dump({"job_name": self.job_name, "status": self.status, "exit_code": self._process.returncode}, f)

    def wait(self, timeout=None):
        """Blocks until the run ends; returns the info dict."""
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError("local job %s still running" % self.job_name)
        self._poll()
        return self.get_job_info()

    def get_job_info(self):
        self._poll()
        return {"is_success": True, "job_id": self.job_id, "job_name": self.job_name, "version_id": self.version_id,
                "status": self.status, "exit_code": self._process.returncode, "create_time": self.create_time,
                "train_url": None, "log_dir": self.run_dir}

    def get_job_log_file_list(self):
        return {"is_success": True, "log_file_list": ["%s.0" % self.job_name]}

    def get_job_log(self, log_file=None, start_byte=0, offset=2048):
        """The log window ``[start_byte, start_byte + offset)`` (``start_byte`` -1: the end)."""
        name = log_file or "%s.0" % self.job_name
        if name != "%s.0" % self.job_name:
            return {"is_success": False, "error_code": "ModelArts.0104", "error_msg": "no log file %s" % name}
        with open(os.path.join(self.run_dir, name), "rb") as f:
            data = f.read()
        offset = max(-2048, min(2048, int(offset)))
        if int(start_byte) < 0:
            start = max(0, len(data) - abs(offset))
        else:
            start = int(start_byte) if offset >= 0 else max(0, int(start_byte) + offset)
        chunk = data[start:start + abs(offset)]
        text = chunk.decode("utf-8", "replace")
        return {"is_success": True, "content": text, "lines": text.count("\n"), "start_line": str(start),
                "end_line": str(start + len(chunk))}

    def stop_job_version(self):
        if self._process.poll() is None:
            self.status = 9
            try:
                os.killpg(self._process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._poll()
        return {"is_success": True}

    def __repr__(self):
        return "LocalTrainingJob(job_name=%r, status=%r, run_dir=%r)" % (self.job_name, self.status, self.run_dir)
