"""The new-version (v2) training API through the official clients from PyPI, unchanged:
``huaweicloudsdkmodelarts`` (``ModelArtsClient`` with ``BasicCredentials`` and AK/SK signing,
over trainyard's own HTTPS) and the ModelArts CLI ``modelarts-macli`` (console cookie session,
pointed at trainyard by scripts/macli-to-trainyard/sitecustomize.py), plus every code block of
docs/api-v2-clients.md.

Run by crates/trainyard-cli/tests/it/python_sdk.rs (``official_v2_clients_against_a_real_server``)
with ``--noconftest``, in a virtualenv holding only the official packages; it starts
``trainyard serve --tls-self-signed`` with a Slurm pool and the container runtime, and passes the
endpoint and credentials in the environment. Without ``TRAINYARD_V2_ENDPOINT`` the module is
skipped. The jobs are shared between the tests, which run in file order, and are short.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import uuid

import pytest

E = os.environ
if not E.get("TRAINYARD_V2_ENDPOINT"):
    pytest.skip("TRAINYARD_V2_ENDPOINT is not set (run by python_sdk.rs)", allow_module_level=True)

from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkmodelarts.v1 import (  # noqa: E402
    Algorithm, AlgorithmCreateEngine, AlgorithmJobConfig, AlgorithmMetadata, CreateAlgorithmRequest,
    DeleteAlgorithmRequest, ListAlgorithmsRequest, Parameters, ShowAlgorithmByUuidRequest,
    CreateTmsTagsRequest, CreateTrainJobTagsRequest, DeleteTmsTagsRequest, DeleteTrainJobTagsRequest,
    ListTrainingJobTagsRequest, ShowTrainJobTagsRequest, TmsTag,
    BatchDeleteJobItem, BatchDeleteJobMetadata, BatchDeleteJobsReq, BatchDeleteTrainingJobRequest, ChangeTrainingJobDescriptionRequest,
    CreateTrainingJobRequest, DeleteTrainingJobRequest, Filter, Job, JobActionType, JobAlgorithm,
    JobEngine, JobMetadata, JobSearches, JobUpdateRequestBody, ListTrainingJobEventsRequest,
    ListTrainingJobsRequest, ListTrainingJobTasksRequest, ModelArtsClient, Parameter,
    ShowTrainingJobDetailsRequest, ShowTrainingJobEnginesRequest, ShowTrainingJobFlavorsRequest,
    ShowTrainingJobLogsPreviewRequest, ShowTrainingJobMetricsRequest, ShowTrainingQuotasRequest,
    Spec, SpecResource, StopTrainingJobRequest)

URL = E["TRAINYARD_V2_ENDPOINT"]
CA = E["TRAINYARD_V2_CA"]
PROJECT = E["TRAINYARD_PROJECT"]
STORAGE = pathlib.Path(E["TRAINYARD_V2_STORAGE"]) / PROJECT
IMAGE = E["TRAINYARD_TEST_IMAGE"]
POOL = E["TRAINYARD_V2_POOL"]
REPO = pathlib.Path(__file__).resolve().parents[3]
SHIM = REPO / "scripts" / "macli-to-trainyard"
DOC = REPO / "docs" / "api-v2-clients.md"
#: Names of this run's jobs start with it, so list filters see only them.
RUN = "v2sdk-%s" % uuid.uuid4().hex[:6]

BOOT = '''import os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
print("v2 boot", args.get("tag", "-"), "pid", os.getpid(), flush=True)
time.sleep(float(args.get("sleep", "0")))
print("v2 boot done", args.get("tag", "-"), flush=True)
'''

FINAL = ("Completed", "Failed", "Terminated", "Abnormal")


def new_client():
    """As a user writes it: AK/SK credentials with the project id, trainyard's endpoint, and its
    certificate as the CA bundle (``HttpConfig.ssl_ca_cert``)."""
    config = HttpConfig.get_default_config()
    config.ssl_ca_cert = CA
    credentials = BasicCredentials(E["TRAINYARD_AK"], E["TRAINYARD_SK"], PROJECT)
    return (ModelArtsClient.new_builder()
            .with_http_config(config)
            .with_credentials(credentials)
            .with_endpoint(URL)
            .build())


@pytest.fixture(scope="module")
def client():
    return new_client()


def show(client, job_id):
    return client.show_training_job_details(ShowTrainingJobDetailsRequest(training_job_id=job_id))


def wait_phase(client, job_id, phases, timeout=120):
    deadline = time.time() + timeout
    while True:
        job = show(client, job_id)
        if job.status.phase in phases:
            return job
        assert time.time() < deadline, "job %s still %s, not %s" % (job_id, job.status.phase, phases)
        time.sleep(0.3)


def error_of(call):
    """The SDK's own exception for a refused call, with its code and status."""
    with pytest.raises(ClientRequestException) as caught:
        call()
    return caught.value


@pytest.fixture(scope="module")
def code():
    """The boot file, in the project's object storage as obs://v2code/."""
    (STORAGE / "v2code").mkdir(parents=True, exist_ok=True)
    (STORAGE / "v2code" / "boot.py").write_text(BOOT)
    return "obs://v2code/"


@pytest.fixture(scope="module")
def catalog(client):
    flavors = client.show_training_job_flavors(ShowTrainingJobFlavorsRequest()).flavors
    engines = client.show_training_job_engines(ShowTrainingJobEnginesRequest()).items
    return flavors, engines


def cpu_flavor(catalog):
    flavors, _ = catalog
    return next(f.flavor_id for f in flavors if f.flavor_type == "CPU")


def python_engine(catalog):
    """A preset engine that runs boot files with Python on the host."""
    _, engines = catalog
    for e in engines:
        if not (e.image_info and (e.image_info.cpu_image_url or "").strip()):
            return e
    return engines[0]


def code_job(name, code, catalog, sleep="0", tag="code", pool=None, nodes=1):
    """A job with code directory, boot file and a preset engine (by id)."""
    resource = SpecResource(node_count=nodes)
    if pool:
        resource.pool_id = pool
    else:
        resource.flavor_id = cpu_flavor(catalog)
    params = [Parameter(name="tag", value=tag), Parameter(name="sleep", value=sleep)]
    return Job(kind="job",
               metadata=JobMetadata(name=name, description="created by the official SDK"),
               algorithm=JobAlgorithm(code_dir=code, boot_file=code + "boot.py", parameters=params,
                                      engine=JobEngine(engine_id=python_engine(catalog).engine_id)),
               spec=Spec(resource=resource))


def create(client, body):
    return client.create_training_job(CreateTrainingJobRequest(body=body))


@pytest.fixture(scope="module")
def jobs(client, code, catalog):
    """The shared jobs, created at once so they run side by side: a code job (local), a
    custom-image job (container), a code job on the Slurm pool, and a long one to terminate."""
    made = {}
    made["local"] = create(client, code_job(RUN + "-local", code, catalog, tag="local", nodes=2))
    made["image"] = create(client, Job(
        kind="job", metadata=JobMetadata(name=RUN + "-image"),
        algorithm=JobAlgorithm(command="test -e /run/.containerenv && echo v2-container-ok",
                               engine=JobEngine(image_url=IMAGE)),
        spec=Spec(resource=SpecResource(flavor_id=cpu_flavor(catalog), node_count=1))))
    made["slurm"] = create(client, code_job(RUN + "-slurm", code, catalog, tag="slurm", pool=POOL))
    made["long"] = create(client, code_job(RUN + "-long", code, catalog, sleep="600", tag="long"))
    return made


def test_flavors_engines_and_quotas(client, catalog):
    flavors, engines = catalog
    assert flavors and all(f.flavor_id and f.flavor_type for f in flavors), flavors
    assert cpu_flavor(catalog)
    assert engines and all(e.engine_id and e.engine_name and e.engine_version for e in engines)
    quotas = client.show_training_quotas(ShowTrainingQuotasRequest()).quotas
    assert quotas, quotas


def test_create_answers_the_job_at_once(jobs):
    local = jobs["local"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", local.metadata.id)
    assert local.metadata.name == RUN + "-local"
    assert local.kind == "job"
    assert local.status.phase in ("Creating", "Pending", "Running"), local.status
    assert local.algorithm.code_dir == "obs://v2code/"
    assert local.spec.resource.node_count == 2


def test_code_image_and_slurm_jobs_run_to_completed(client, jobs):
    for key, marker, names in (("local", "v2 boot done local", ["worker-0", "worker-1"]),
                               ("image", "v2-container-ok", ["worker-0"]),
                               ("slurm", "v2 boot done slurm", ["worker-0"])):
        job = wait_phase(client, jobs[key].metadata.id, FINAL, timeout=180)
        assert job.status.phase == "Completed", (key, job.status)
        assert job.status.duration is not None and job.status.duration >= 0
        assert job.status.tasks == names, job.status.tasks
        tasks = client.list_training_job_tasks(ListTrainingJobTasksRequest(training_job_id=job.metadata.id)).body
        assert [t.task for t in tasks] == names, tasks
        for task in job.status.tasks:
            log = client.show_training_job_logs_preview(ShowTrainingJobLogsPreviewRequest(
                training_job_id=job.metadata.id, task_id=task))
            assert marker in log.content, (key, log.content)
            assert log.current_size == len(log.content.encode()) and log.full_size >= log.current_size
    assert show(client, jobs["image"].metadata.id).algorithm.engine.image_url == IMAGE
    assert show(client, jobs["slurm"].metadata.id).spec.resource.pool_id == POOL
    # It ran as a Slurm job (trainyard names them trainyard-<job name>-<run>).
    queue = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%j"], stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout.split()
    assert any(n.startswith("trainyard-%s-slurm-" % RUN) for n in queue), queue


def test_events_and_metrics(client, jobs):
    job_id = jobs["local"].metadata.id
    events = client.list_training_job_events(ListTrainingJobEventsRequest(training_job_id=job_id))
    assert events.total >= 1 and events.events, events
    assert all(e.time and e.level and e.message for e in events.events)
    metrics = client.show_training_job_metrics(ShowTrainingJobMetricsRequest(
        training_job_id=job_id, task_id="worker-0")).metrics
    assert {m.metric for m in metrics} >= {"cpuUsage", "memUsage"}, metrics
    lengths = {len(m.value or []) for m in metrics}
    assert len(lengths) == 1, "every series has one value per minute: %s" % metrics


def test_list_with_a_name_filter_sorting_and_paging(client, jobs):
    names = sorted(RUN + "-" + k for k in ("local", "image", "slurm", "long"))

    def page(offset, limit, order):
        return client.list_training_jobs(ListTrainingJobsRequest(body=JobSearches(
            offset=offset, limit=limit, sort_by="name", order=order,
            filters=[Filter(key="name", operator="like", value=[RUN])])))

    first = page(0, 3, "asc")
    assert first.count == 4, first
    assert [j.metadata.name for j in first.items] == names[:3]
    rest = page(3, 3, "asc")
    assert [j.metadata.name for j in rest.items] == names[3:]
    assert [j.metadata.name for j in page(0, 10, "desc").items] == names[::-1]
    by_time = client.list_training_jobs(ListTrainingJobsRequest(body=JobSearches(
        offset=0, limit=50, sort_by="create_time", order="desc")))
    ids = [j.metadata.id for j in by_time.items]
    assert jobs["long"].metadata.id in ids and by_time.total >= 4


def test_update_the_description(client, jobs):
    job_id = jobs["local"].metadata.id
    client.change_training_job_description(ChangeTrainingJobDescriptionRequest(
        training_job_id=job_id, body=JobUpdateRequestBody(description="described again")))
    assert show(client, job_id).metadata.description == "described again"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pid_of(client, job_id):
    """The pid the job's boot file printed in its log (worker-0), once it runs."""
    deadline = time.time() + 60
    while True:
        try:
            content = client.show_training_job_logs_preview(ShowTrainingJobLogsPreviewRequest(
                training_job_id=job_id, task_id="worker-0")).content
        except ClientRequestException as e:
            assert e.error_code == "ModelArts.2818", e  # no log yet
            content = ""
        found = re.search(r"^v2 boot \S+ pid (\d+)$", content, re.M)
        if found:
            return int(found.group(1))
        assert time.time() < deadline, "job %s printed no pid: %r" % (job_id, content)
        time.sleep(0.2)


def wait_gone(pid):
    deadline = time.time() + 15
    while pid_alive(pid):
        assert time.time() < deadline, "process %d still runs after Terminated" % pid
        time.sleep(0.2)


def test_terminate_a_running_job(client, jobs):
    job_id = jobs["long"].metadata.id
    wait_phase(client, job_id, ("Running",), timeout=60)
    pid = pid_of(client, job_id)
    assert pid_alive(pid)
    answer = client.stop_training_job(StopTrainingJobRequest(
        training_job_id=job_id, body=JobActionType(action_type="terminate")))
    assert answer.status.phase in ("Terminating", "Terminated"), answer.status
    wait_phase(client, job_id, ("Terminated",), timeout=60)
    wait_gone(pid)


def test_errors_are_the_sdks_own_exceptions(client, jobs):
    unknown = str(uuid.uuid4())
    e = error_of(lambda: show(client, unknown))
    assert (e.status_code, e.error_code) == (400, "ModelArts.2775"), e
    assert unknown in e.error_msg
    finished = jobs["local"].metadata.id
    e = error_of(lambda: client.stop_training_job(StopTrainingJobRequest(
        training_job_id=finished, body=JobActionType(action_type="terminate"))))
    assert (e.status_code, e.error_code) == (409, "ModelArts.2796"), e
    def job(name, engine_id):
        return Job(kind="job", metadata=JobMetadata(name=name),
                   algorithm=JobAlgorithm(code_dir="obs://v2code/", boot_file="obs://v2code/boot.py",
                                          engine=JobEngine(engine_id=engine_id)),
                   spec=Spec(resource=SpecResource(flavor_id=jobs["local"].spec.resource.flavor_id, node_count=1)))
    engine = jobs["local"].algorithm.engine.engine_id
    e = error_of(lambda: create(client, job(RUN + "-local", engine)))
    assert (e.status_code, e.error_code) == (400, "ModelArts.2751"), e
    e = error_of(lambda: create(client, job(RUN + "-noengine", "no-such-engine")))
    assert (e.status_code, e.error_code) == (400, "ModelArts.2780"), e



def test_algorithms_a_job_made_from_one_and_its_tags(client, code, catalog):
    engine = python_engine(catalog).engine_id
    made = client.create_algorithm(CreateAlgorithmRequest(body=Algorithm(
        metadata=AlgorithmMetadata(name=RUN + "-alg", description="by the SDK"),
        job_config=AlgorithmJobConfig(code_dir=code, boot_file=code + "boot.py",
                                      engine=AlgorithmCreateEngine(engine_id=engine),
                                      parameters=[Parameters(name="tag", value="from-alg")]))))
    alg = made.metadata.id
    assert made.job_config.engine.engine_id == engine
    shown = client.show_algorithm_by_uuid(ShowAlgorithmByUuidRequest(algorithm_id=alg))
    assert (shown.metadata.name, shown.job_config.parameters[0].value) == (RUN + "-alg", "from-alg")
    listed = client.list_algorithms(ListAlgorithmsRequest(searches="name:" + RUN + "-alg"))
    assert [a.metadata.id for a in listed.items] == [alg]
    job = create(client, Job(kind="job", metadata=JobMetadata(name=RUN + "-from-alg"),
                             algorithm=JobAlgorithm(id=alg, parameters=[Parameter(name="sleep", value="0")]),
                             spec=Spec(resource=SpecResource(flavor_id=cpu_flavor(catalog), node_count=1))))
    assert (job.algorithm.id, job.algorithm.name) == (alg, RUN + "-alg")
    assert wait_phase(client, job.metadata.id, FINAL).status.phase == "Completed"
    log = client.show_training_job_logs_preview(ShowTrainingJobLogsPreviewRequest(
        training_job_id=job.metadata.id, task_id="worker-0")).content
    assert "v2 boot from-alg" in log, log
    # Tags of the job.
    client.create_train_job_tags(CreateTrainJobTagsRequest(
        training_job_id=job.metadata.id, body=CreateTmsTagsRequest(tags=[TmsTag(key="origin", value="alg")])))
    shown = client.show_train_job_tags(ShowTrainJobTagsRequest(training_job_id=job.metadata.id))
    assert [(t.key, t.value) for t in shown.tags] == [("origin", "alg")]
    keys = client.list_training_job_tags(ListTrainingJobTagsRequest(limit=10))
    assert ("origin", ["alg"]) in [(t.key, t.values) for t in keys.tags]
    client.delete_train_job_tags(DeleteTrainJobTagsRequest(
        training_job_id=job.metadata.id, body=DeleteTmsTagsRequest(tags=[TmsTag(key="origin")])))
    assert client.show_train_job_tags(ShowTrainJobTagsRequest(training_job_id=job.metadata.id)).tags == []
    client.delete_algorithm(DeleteAlgorithmRequest(algorithm_id=alg))
    e = error_of(lambda: client.show_algorithm_by_uuid(ShowAlgorithmByUuidRequest(algorithm_id=alg)))
    assert (e.status_code, e.error_code) == (400, "ModelArts.2755"), e
    e = error_of(lambda: create(client, Job(
        kind="job", metadata=JobMetadata(name=RUN + "-no-alg"), algorithm=JobAlgorithm(id=alg),
        spec=Spec(resource=SpecResource(flavor_id=cpu_flavor(catalog), node_count=1)))))
    assert (e.status_code, e.error_code) == (400, "ModelArts.2755"), e


# ---- modelarts-macli -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def macli(tmp_path_factory):
    """Runs the installed ``macli`` with a fresh home, pointed at trainyard by the shim."""
    home = tmp_path_factory.mktemp("macli-home")
    env = dict(os.environ)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONPATH=str(SHIM),
               MACLI_CONSOLE_URL=URL, MACLI_CA_BUNDLE=CA, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    exe = str(pathlib.Path(sys.executable).parent / "macli")

    def run(*args, check=True):
        out = subprocess.run([exe] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, universal_newlines=True, timeout=120)
        assert not check or out.returncode == 0, "macli %s: %s" % (" ".join(args), out.stdout)
        return out.stdout

    run.home = home
    return run


def console_cookie():
    """Signs in to trainyard's web console as a browser does and returns the ``Cookie`` header
    the browser then sends (what macli's guide says to copy from the developer tools)."""
    import requests
    r = requests.post(URL + "/console/sign-in", verify=CA, allow_redirects=False, data={
        "method": "user", "domain": E["TRAINYARD_ACCOUNT"], "user": E["TRAINYARD_USER"],
        "password": E["TRAINYARD_PASSWORD"]})
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    cookies = {c.name: c.value for c in r.cookies}
    assert "trainyard_console" in cookies and cookies.get("cftk"), r.headers
    return "; ".join("%s=%s" % kv for kv in cookies.items())


def test_macli_logs_in_with_a_console_cookie(macli):
    out = macli("login", "--cookie", console_cookie())
    session = json.loads((macli.home / ".config" / "macli" / "session.json").read_text())
    assert session["project_id"] == PROJECT, (session, out)
    assert session["cftk"], session


def test_macli_lists_shows_and_reads_events(macli, jobs):
    listed = json.loads(macli("jobs", "--json"))
    by_id = {j["id"]: j for j in listed}
    local = jobs["local"].metadata.id
    assert by_id[local]["name"] == RUN + "-local" and by_id[local]["status"] == "Completed", listed
    assert json.loads(macli("jobs", "--name", RUN + "-long", "--json"))[0]["status"] == "Terminated"
    assert json.loads(macli("detail", local, "--json"))["description"] == "described again"
    events = json.loads(macli("events", local, "--json"))
    assert events, events
    assert int(macli("jobs", "count")) >= 4
    assert macli("query", "--name", RUN + "-long", "--terminated").split() == [jobs["long"].metadata.id]
    assert json.loads(macli("whoami", "--json"))["project_id"] == PROJECT
    regions = json.loads(macli("region", "list", "--json"))
    assert [r["current"] for r in regions] == [True], regions


def test_macli_copies_a_job_and_downloads_its_log(macli, client, jobs, tmp_path):
    created = json.loads(macli("copy", jobs["local"].metadata.id, "--name", RUN + "-mcopy", "--yes", "--json"))
    assert created["name"] == RUN + "-mcopy" and created["id"] != jobs["local"].metadata.id, created
    job = wait_phase(client, created["id"], FINAL, timeout=120)
    assert job.status.phase == "Completed", job.status
    assert job.algorithm.code_dir == "obs://v2code/"
    out = tmp_path / "copy.log"
    macli("log", created["id"], "--output", str(out))
    assert "v2 boot done local" in out.read_text(), out.read_text()
    macli("delete", created["id"], "--yes")
    e = error_of(lambda: show(client, created["id"]))
    assert e.error_code == "ModelArts.2775"


def test_macli_stops_a_running_job(macli, client, jobs):
    created = json.loads(macli("copy", jobs["long"].metadata.id, "--name", RUN + "-mstop", "--yes", "--json"))
    job_id = created["id"]
    wait_phase(client, job_id, ("Running",), timeout=60)
    pid = pid_of(client, job_id)
    assert pid_alive(pid)
    macli("stop", job_id, "--yes")
    wait_phase(client, job_id, ("Terminated",), timeout=60)
    wait_gone(pid)


# ---- docs/api-v2-clients.md ------------------------------------------------------------------

def doc_blocks(lang):
    text = DOC.read_text()
    return re.findall(r"^```%s\n(.*?)^```" % lang, text, re.S | re.M)


def test_every_code_block_of_the_clients_doc_runs(tmp_path):
    """The ``python`` blocks run in this virtualenv, the ``sh`` blocks with bash, in order, with
    the variables the page says to set."""
    env = dict(os.environ)
    env.update(TRAINYARD_URL=URL, TRAINYARD_CA=CA, TRAINYARD_AK=E["TRAINYARD_AK"],
               TRAINYARD_SK=E["TRAINYARD_SK"], TRAINYARD_PROJECT=PROJECT, HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / ".config"), TRAINYARD_REPO=str(REPO),
               PATH=str(pathlib.Path(sys.executable).parent) + os.pathsep + E["PATH"],
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    blocks = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(python|sh)\n(.*?)^```", DOC.read_text(),
                                                           re.S | re.M)]
    assert blocks, "no code blocks in %s" % DOC
    env["TRAINYARD_CONSOLE_COOKIE"] = console_cookie()
    for lang, body in blocks:
        cmd = [sys.executable, "-c", body] if lang == "python" else ["bash", "-euo", "pipefail", "-c", body]
        out = subprocess.run(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, universal_newlines=True, timeout=180)
        assert out.returncode == 0, "block failed:\n%s\n---\n%s" % (body, out.stdout)


def test_delete_and_batch_delete(client, jobs):
    client.delete_training_job(DeleteTrainingJobRequest(training_job_id=jobs["local"].metadata.id))
    e = error_of(lambda: show(client, jobs["local"].metadata.id))
    assert e.error_code == "ModelArts.2775"
    rest = [jobs[k].metadata.id for k in ("image", "slurm", "long")]
    items = [BatchDeleteJobItem(kind="job", metadata=BatchDeleteJobMetadata(id=i)) for i in rest]
    client.batch_delete_training_job(BatchDeleteTrainingJobRequest(body=BatchDeleteJobsReq(jobs=items)))
    for job_id in rest:
        assert error_of(lambda: show(client, job_id)).error_code == "ModelArts.2775"
