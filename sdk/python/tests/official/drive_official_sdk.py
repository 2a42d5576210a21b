"""Drives Huawei's official ``modelarts`` SDK through trainyard over HTTPS, as a migrating user
would: ``Session.set_endpoint`` with trainyard's https URL for ModelArts, IAM and OBS and a
private region name, then an AK/SK session (and an IAM-user session) for ``session.obs``, ``fit``,
job info, logs, a new version, stop, and a visualization job's create/stop/delete.

Run by tests/test_official_sdk.py in a virtualenv holding the official wheel (never this
repository's package); prints one ``ok <step>`` line per step and exits non-zero on failure.
"""

import os
import sys
import tempfile
import time

from modelarts.session import Session
from modelarts.estimator import Estimator, JOB_STATE, VisualizationJob

E = os.environ
URL = E["TRAINYARD_TLS_ENDPOINT"]
REGION = E["TRAINYARD_TLS_REGION"]
TERMINAL = ("JOBSTAT_COMPLETED", "JOBSTAT_FAILED", "JOBSTAT_KILLED", "JOBSTAT_CANCELED", "JOBSTAT_LOST")


def ok(step):
    print("ok", step, flush=True)


def wait_state(job, states, timeout=90):
    deadline = time.time() + timeout
    while True:
        info = job.get_job_info()
        name = JOB_STATE[info["status"]]
        if name in states:
            return info
        assert time.time() < deadline, "still %s" % name
        time.sleep(0.3)


Session.set_endpoint(iam_endpoint=URL, obs_endpoint=URL, modelarts_endpoint=URL, region_name=REGION)
session = Session(access_key=E["TRAINYARD_AK"], secret_key=E["TRAINYARD_SK"], project_id=E["TRAINYARD_PROJECT"],
                  region_name=REGION)
ok("aksk session")

work = tempfile.mkdtemp()
code = os.path.join(work, "code")
os.makedirs(code)
with open(os.path.join(code, "train.py"), "w") as f:
    f.write("import sys, time\nprint('official sdk job', sys.argv[1:], flush=True)\n"
            "time.sleep(float(dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a).get('sleep', '0')))\n")
# With a trailing "/", as scripts pass it (the official SDK misplaces files without one).
session.obs.upload_dir(code + "/", "obs://official/")
assert session.obs.is_obs_file("obs://official/code/train.py")
ok("obs upload_dir")

specs = Estimator.get_train_instance_types(session)
assert "modelarts.vm.gpu.free" in str(specs), specs
engines = Estimator.get_framework_list(session)
assert "PyTorch-1.4.0-python3.6" in str(engines), engines
ok("catalog")

estimator = Estimator(modelarts_session=session, framework_type="PyTorch", framework_version="PyTorch-1.4.0-python3.6",
                      code_dir="/official/code/", boot_file="/official/code/train.py", log_url="/official/log/",
                      hyperparameters=[{"label": "sleep", "value": "0"}], output_path="/official/out/",
                      train_instance_type="modelarts.vm.gpu.free", train_instance_count=1)
job = estimator.fit(inputs="/official/code/", wait=False, job_name="official-sdk-job")
info = wait_state(job, TERMINAL)
assert JOB_STATE[info["status"]] == "JOBSTAT_COMPLETED", info
ok("fit")

jobs = Estimator.get_job_list(modelarts_session=session, per_page=10, page=1, order="asc", search_content="official")
assert any(str(j["job_id"]) == str(job.job_id) for j in jobs["jobs"]), jobs
files = job.get_job_log_file_list()
log = job.get_job_log(log_file=files["log_file_list"][-1])
assert "official sdk job" in str(log), log
ok("job info and logs")

estimator.hyperparameters = [{"label": "sleep", "value": "60"}]
version = estimator.create_job_version(job_id=job.job_id, pre_version_id=info["version_id"],
                                       inputs="/official/code/", wait=False, job_desc="second version")
wait_state(version, ("JOBSTAT_RUNNING",))
version.stop_job_version()
info = wait_state(version, TERMINAL)
assert JOB_STATE[info["status"]] == "JOBSTAT_KILLED", info
ok("new version and stop")

session.obs.download_dir("obs://official/code/", os.path.join(work, "back"))
assert os.path.isfile(os.path.join(work, "back", "code", "train.py"))
ok("obs download_dir")

viz = VisualizationJob(modelarts_session=session).create_visualization_job(
    job_name="officialviz", train_url="/official/out/", job_desc="official sdk")
deadline = time.time() + 90
while viz.get_visualization_job_info()["status"] != 8:
    assert time.time() < deadline, viz.get_visualization_job_info()
    time.sleep(0.3)
viz.stop_visualization_job()
deadline = time.time() + 60
while viz.get_visualization_job_info()["status"] not in (10, 12):
    assert time.time() < deadline, viz.get_visualization_job_info()
    time.sleep(0.3)
viz.delete_visualization_job()
ok("visualization create/stop/delete")

Estimator.delete_job_by_id(modelarts_session=session, job_id=job.job_id)
ok("delete")

if E.get("TRAINYARD_USER"):
    account = Session(account=E["TRAINYARD_ACCOUNT"], username=E["TRAINYARD_USER"], password=E["TRAINYARD_PASSWORD"],
                      region_name=REGION, project_id=E["TRAINYARD_PROJECT"])
    listed = Estimator.get_job_list(modelarts_session=account, per_page=10, page=1)
    assert "jobs" in listed, listed
    # session.obs with the temporary AK/SK the account mode gets from IAM.
    account.obs.upload_file(os.path.join(code, "train.py"), "obs://official/account/")
    assert account.obs.is_obs_file("obs://official/account/train.py")
    ok("account session")
sys.exit(0)
