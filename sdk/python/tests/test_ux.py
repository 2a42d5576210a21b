"""What a new user of the SDK trips over (issue 31): ``fit(logs=True)``, ``raise_on_failure``,
a ``Session`` without a project refused at once, the CLI's saved login, and a refused ``fit``
that leaves no upload behind."""

import os
import subprocess

import pytest

from conftest import ENV, PROJECT, STORAGE
from modelarts.estimator import Estimator
from modelarts.exception import ModelArtsError, TrainingJobFailed
from modelarts.session import Session

FAILED = 11

FAILING_BOOT = '''import sys
print("step 1", flush=True)
print("loss is nan", flush=True)
sys.exit(4)
'''


def code(tmp_path, boot=FAILING_BOOT):
    folder = tmp_path / "code"
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text(boot)
    return folder


def estimator(session, code_dir, **extra):
    kwargs = dict(modelarts_session=session, framework_type='PyTorch', framework_version='PyTorch-1.0.0-python3.6',
                  code_dir=str(code_dir), boot_file='train.py', output_path='/bucket/output/',
                  train_instance_type='modelarts.vm.cpu.2u', train_instance_count=1)
    kwargs.update(extra)
    return Estimator(**kwargs)


def uploads():
    folder = STORAGE / "sdk-code"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def aksk(**extra):
    return Session(access_key=ENV["TRAINYARD_AK"], secret_key=ENV["TRAINYARD_SK"], project_id=PROJECT,
                   region_name=ENV["TRAINYARD_REGION"], **extra)


def test_fit_logs_streams_and_raise_on_failure_says_why(tmp_path, capsys, monkeypatch):
    folder = code(tmp_path)
    # Default (as the official SDK): a failed run returns, with its status.
    job = estimator(aksk(), folder).fit(inputs='/bucket/data/train/', wait=True, job_name='ux-fail-quiet')
    assert job.status == FAILED
    capsys.readouterr()

    # logs=True alone waits and streams the log; raise_on_failure raises with the reason.
    with pytest.raises(TrainingJobFailed) as caught:
        estimator(aksk(raise_on_failure=True), folder).fit(inputs='/bucket/data/train/', logs=True,
                                                          job_name='ux-fail-loud')
    streamed = capsys.readouterr().out
    assert "step 1" in streamed and "loss is nan" in streamed
    err = caught.value
    assert isinstance(err, ModelArtsError)
    assert (err.status, err.status_name, err.worker) == (FAILED, "FAILED", 0)
    assert err.exit == "exited with code 4" and err.log_file == "ux-fail-loud.0"
    assert "loss is nan" in err.last_lines
    assert "worker 0 exited with code 4" in str(err) and "loss is nan" in str(err)

    # ... or from the environment, for job.wait() too.
    monkeypatch.setenv("MODELARTS_RAISE_ON_FAILURE", "1")
    session = aksk()
    assert session.raise_on_failure is True
    job = estimator(session, folder).fit(inputs='/bucket/data/train/', job_name='ux-fail-env')
    with pytest.raises(TrainingJobFailed):
        job.wait(logs=False)


def test_a_session_without_project_is_refused_at_once(monkeypatch):
    for name in ("MODELARTS_PROJECT_ID", "TRAINYARD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELARTS_TOKEN", ENV["TRAINYARD_TOKEN"])
    with pytest.raises(ValueError, match="no project"):
        Session()
    monkeypatch.setenv("TRAINYARD_PROJECT", PROJECT)
    assert Session().project_id == PROJECT


def test_session_falls_back_to_the_cli_login(tmp_path, monkeypatch):
    profiles = tmp_path / "profiles.toml"
    endpoint = ENV["MODELARTS_ENDPOINT"]
    env = dict(os.environ, TRAINYARD_PROFILE_FILE=str(profiles), TRAINYARD_SERVER=endpoint)
    done = subprocess.run([ENV["TRAINYARD_BIN"], "login", "--project", PROJECT, "--token", ENV["TRAINYARD_TOKEN"]],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("MODELARTS_ACCESS_KEY", "MODELARTS_SECRET_KEY", "MODELARTS_TOKEN", "TRAINYARD_TOKEN",
                 "MODELARTS_PROJECT_ID", "TRAINYARD_PROJECT", "MODELARTS_ENDPOINT", "TRAINYARD_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Session, "_endpoints", {})
    monkeypatch.setenv("TRAINYARD_PROFILE_FILE", str(profiles))
    session = Session()
    assert (session.auth_mode, session.project_id) == ("token", PROJECT)
    assert session.endpoint == endpoint.rstrip("/")
    assert Estimator.get_job_list(modelarts_session=session, per_page=1, page=1)["is_success"] is True
    # Another profile name, and none at all.
    monkeypatch.setenv("TRAINYARD_PROFILE", "nothing-saved")
    assert Session().auth_mode is None


def test_fit_checks_before_uploading_and_a_refused_fit_leaves_nothing(tmp_path):
    folder = code(tmp_path, "print('hi')\n")
    before = uploads()
    # A missing boot file, named by its local path; nothing uploaded.
    with pytest.raises(ValueError) as caught:
        estimator(aksk(), folder, boot_file='nope.py').fit(inputs='/bucket/data/train/', job_name='ux-noboot')
    assert str(folder / "nope.py") in str(caught.value)
    # An unknown framework, before anything is uploaded.
    with pytest.raises(ValueError, match="unknown framework"):
        estimator(aksk(), folder, framework_type='NoSuchEngine').fit(inputs='/bucket/data/train/',
                                                                   job_name='ux-noengine')
    assert uploads() == before
    # The server refuses the job (a name it does not take): the upload is taken back.
    with pytest.raises(ModelArtsError):
        estimator(aksk(), folder).fit(inputs='/bucket/data/train/', job_name='no spaces allowed!')
    assert uploads() == before
