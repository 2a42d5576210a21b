"""Training jobs and versions: every sample of sdk.md §3.2 and §4."""

import time

import pytest

from conftest import wait_status, wait_until
from modelarts.estimator import Estimator, TrainingJob
from modelarts.exception import ModelArtsError

COMPLETED, RUNNING, KILLED = 10, 8, 12


def estimator(session, **extra):
    kwargs = dict(modelarts_session=session, framework_type='PyTorch', framework_version='PyTorch-1.0.0-python3.6',
                  code_dir='/bucket/src/', boot_file='/bucket/src/boot.py', log_url='/bucket/log/',
                  hyperparameters=[{"label": "lr", "value": "0.01"}], output_path='/bucket/output/',
                  train_instance_type='modelarts.vm.cpu.2u', train_instance_count=1, job_description='sdk test')
    kwargs.update(extra)
    return Estimator(**kwargs)


def test_fit_get_info_logs_and_delete(session):
    job_instance = estimator(session).fit(inputs='/bucket/data/train/', wait=False, job_name='my_training_job')
    assert isinstance(job_instance, TrainingJob)
    assert job_instance.job_id and job_instance.version_id
    info = wait_status(job_instance, {COMPLETED})
    assert info["is_success"] is True and info["job_name"] == 'my_training_job'
    assert info["engine_name"] == "PyTorch" and info["data_url"] == '/bucket/data/train/'
    assert "error_msg" not in info

    # The Estimator(job_id, version_id) form of the same calls.
    est = Estimator(modelarts_session=session, job_id=str(job_instance.job_id), version_id=str(job_instance.version_id))
    assert est.get_job_info()["version_id"] == job_instance.version_id
    files = est.get_job_log_file_list()
    assert files["is_success"] is True and files["log_file_list"] == ["my_training_job.0"]
    job_log = est.get_job_log(log_file='my_training_job.0')
    assert "boot.py running rank 0" in job_log["content"] and "boot.py done" in job_log["content"]
    tail = job_instance.get_job_log(log_file='my_training_job.0', start_byte=-1, offset=200)
    assert "boot.py done" in tail["content"] and len(tail["content"]) <= 200
    # The run's event log (a trainyard extension), oldest first; written beside the status.
    deadline = time.time() + 20
    while True:
        events = est.get_job_events()
        kinds = [e["kind"] for e in events["events"]]
        if "ended" in kinds or time.time() > deadline:
            break
        time.sleep(0.1)
    assert events["is_success"] is True and events["version_id"] == job_instance.version_id
    assert kinds[0] == "created" and kinds[-1] == "ended", kinds
    assert "started" in kinds and events["events"][-1]["detail"]["status"] == COMPLETED

    job_description = Estimator(modelarts_session=session, job_id=str(job_instance.job_id)).update_job_description(
        description='update description')
    assert job_description["is_success"] is True
    assert job_instance.get_job_info()["job_desc"] == 'update description'

    assert job_instance.delete_job()["is_success"] is True
    gone = job_instance.get_job_info()
    assert gone["is_success"] is False and gone["error_code"] == "ModelArts.0105" and gone["error_msg"]


def test_fit_with_dataset_and_wait(session):
    job_instance = estimator(session).fit(dataset_id='your_dataset_id', dataset_version_id='your_dataset_version_id',
                                          wait=True, job_name='my_training_job_ds')
    assert job_instance.status == COMPLETED
    info = job_instance.get_job_info()
    assert info["dataset_id"] == 'your_dataset_id' and info["dataset_version_id"] == 'your_dataset_version_id'
    assert Estimator.delete_job_by_id(modelarts_session=session, job_id=str(job_instance.job_id))["is_success"]


def test_job_list_both_sort_spellings(session, account_session):
    est = estimator(session)
    jobs = [est.fit(inputs='/bucket/data/train/', job_name='job-list-%d' % i) for i in range(2)]
    job_list_info = Estimator.get_job_list(modelarts_session=session, per_page=10, page=1, order="asc",
                                           search_content="job-list")
    assert job_list_info["is_success"] is True and job_list_info["job_total_count"] == 2
    assert [j["job_name"] for j in job_list_info["jobs"]] == ["job-list-0", "job-list-1"]
    for key in ("job_count_limit", "quotas"):
        assert isinstance(job_list_info[key], int)
    by_create = Estimator.get_job_list(modelarts_session=account_session, sort_by="create_time", order="desc",
                                       search_content="job-list")
    assert [j["job_name"] for j in by_create["jobs"]] == ["job-list-1", "job-list-0"]
    by_camel = Estimator.get_job_list(modelarts_session=session, sortBy="job_name", order="desc",
                                      search_content="job-list")
    assert [j["job_name"] for j in by_camel["jobs"]] == ["job-list-1", "job-list-0"]
    for j in jobs:
        wait_status(j, {COMPLETED})
    completed = Estimator.get_job_list(modelarts_session=session, status=10, search_content="job-list")
    assert completed["job_total_count"] == 2
    bad = Estimator.get_job_list(modelarts_session=session, per_page=0)
    assert bad["is_success"] is False and bad["error_code"] == "ModelArts.0104" and "error_msg" in bad
    for j in jobs:
        j.delete_job()


def test_versions(session):
    est = estimator(session, hyperparameters=[{"label": "sleep", "value": "600"}])
    job_instance = est.fit(inputs='/bucket/data/train/', wait=False, job_name='versioned_job')
    wait_status(job_instance, {RUNNING})

    stopped = job_instance.stop_job_version()
    assert stopped["is_success"] is True
    wait_status(job_instance, {KILLED})

    job_version_instance = estimator(session).create_job_version(
        job_id=str(job_instance.job_id), pre_version_id=job_instance.version_id, inputs='/bucket/data/train/',
        wait=False, job_desc='create a job version')
    assert job_version_instance.job_id == job_instance.job_id
    assert job_version_instance.version_id != job_instance.version_id
    wait_status(job_version_instance, {COMPLETED})

    job_version_info = Estimator(session, job_id=str(job_instance.job_id)).get_job_version_info()
    assert job_version_info["is_success"] is True and job_version_info["version_count"] == 2
    assert job_version_instance.get_job_version_info()["version_count"] == 2
    info = job_version_instance.get_job_info()
    assert info["pre_version_id"] == job_instance.version_id

    job_version_instance_list = Estimator(session, job_id=str(job_instance.job_id)).get_job_version_object_list(
        is_show=True)
    assert sorted(v.version_id for v in job_version_instance_list) == sorted(
        [job_instance.version_id, job_version_instance.version_id])
    assert job_version_instance_list[0].get_job_info()["is_success"] is True
    assert job_version_instance_list[0].get_job_log_file_list()["is_success"] is True

    old = [v for v in job_version_instance_list if v.version_id == job_instance.version_id][0]
    assert old.delete_job_version()["is_success"] is True
    assert Estimator(session, job_id=str(job_instance.job_id)).get_job_version_info()["version_count"] == 1
    refused = job_version_instance.stop_job_version()
    assert refused["is_success"] is False and refused["error_code"] == "ModelArts.0105"
    assert job_instance.delete_job()["is_success"] is True


def test_fit_with_built_in_algorithm(session):
    est = Estimator(modelarts_session=session, model_name='Linear_Regression', output_path='/bucket/output/lr/',
                    train_instance_type='modelarts.vm.cpu.2u', train_instance_count=1)
    job_instance = est.fit(inputs='/bucket/data/train/', wait=True, job_name='builtin_lr')
    assert job_instance.status == COMPLETED
    assert job_instance.get_job_info()["model_id"] == 1
    job_instance.delete_job()


def test_bad_run_configuration_is_refused_client_side(session):
    with pytest.raises(ValueError, match="train_instance_type"):
        estimator(session, train_instance_type='modelarts.vm.none').fit(inputs='/bucket/data/train/')
    with pytest.raises(ValueError):
        estimator(session).fit(inputs='/x/', dataset_id='a', dataset_version_id='b')


def test_fit_wait_prints_status_changes_and_the_log(session, capsys):
    job = estimator(session).fit(inputs='/bucket/data/train/', wait=True, job_name='printed_job')
    out = capsys.readouterr().out
    assert job.status == COMPLETED
    assert "job printed_job version %s: COMPLETED(10)" % job.version_id in out, out
    assert "boot.py running rank 0" in out and "boot.py done" in out, out
    assert out.index("boot.py done") < out.index("COMPLETED(10)"), out
    # wait() on a handle prints the same; logs=False only the status.
    job.wait(logs=False)
    again = capsys.readouterr().out
    assert "COMPLETED(10)" in again and "boot.py" not in again, again

    # Object lists carry datetimes; their tables show times, not milliseconds.
    import datetime
    versions = Estimator(modelarts_session=session, job_id=job.job_id).get_job_version_object_list(is_show=True)
    table = capsys.readouterr().out
    assert isinstance(versions[0].create_time, datetime.datetime) and versions[0].create_time.tzinfo is not None
    assert versions[0].create_time.year >= 2024
    assert "COMPLETED(10)" in table and str(job.create_time) not in table, table
    assert Estimator.delete_job_by_id(modelarts_session=session, job_id=str(job.job_id))["is_success"]


def test_reprs_show_no_secret(session, account_session):
    import os
    for obj in (session, account_session):
        text = repr(obj)
        assert os.environ["TRAINYARD_SK"] not in text and os.environ["TRAINYARD_PASSWORD"] not in text, text
        assert "secret_key" not in text and "_password" not in text, text


def test_fit_sends_a_notification(session):
    # The server's topic "sdk-alerts" (a webhook nobody listens at): the job's started event
    # becomes a delivery, listed with its attempts; an unknown topic is refused, named.
    job = estimator(session, notification={"topic_urn": "sdk-alerts", "events": ["JobStarted"]}).fit(
        inputs='/bucket/data/train/', job_name='notified_job')
    deadline = time.time() + 30
    while True:
        listed = session.call("GET", "/webhooks/deliveries", {"job_id": str(job.job_id)})
        events = [d["event"] for d in listed["deliveries"]]
        if events or time.time() > deadline:
            break
        time.sleep(0.2)
    assert events == ["started"] and listed["deliveries"][0]["webhook"] == "sdk-hook", listed
    with pytest.raises(ModelArtsError) as refused:
        estimator(session).fit(inputs='/bucket/data/train/', job_name='unnotified', notification="nobody")
    assert "topic 'nobody' is not configured" in str(refused.value)


def test_a_sweep_runs_each_combination_and_reports_its_progress(session):
    # trainyard extension: a 2 x 2 grid, 2 at a time; each run is an ordinary job.
    sweep = estimator(session).sweep({"lr": [0.1, 0.01], "batch": [16, 32]}, sweep_name="sdk_sweep",
                                     concurrency=2, inputs='/bucket/data/train/')
    assert sweep["run_count"] == 4 and sweep["concurrency"] == 2
    combos = sorted((r["parameters"]["lr"], r["parameters"]["batch"]) for r in sweep["runs"])
    assert combos == [("0.01", "16"), ("0.01", "32"), ("0.1", "16"), ("0.1", "32")]
    done = wait_until(lambda: (lambda s: s["progress"]["completed"] == 4 and s)(
        Estimator.get_sweep(session, sweep["sweep_id"])), 120, "the sweep's end")
    assert done["progress"] == {"queued": 0, "running": 0, "completed": 4, "failed": 0, "stopped": 0}
    assert [r["job_name"] for r in done["runs"]] == ["sdk_sweep-%d" % i for i in range(4)]
    for run in done["runs"]:
        assert TrainingJob(session, run["job_id"], run["version_id"]).get_job_info()["status"] == COMPLETED
