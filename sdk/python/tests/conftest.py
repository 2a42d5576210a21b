"""Fixtures: a running trainyard (started by crates/trainyard-cli/tests/it/python_sdk.rs) and
sessions in each authentication mode. Only the endpoint and the credentials come from the
environment; the tests are the SDK reference's code samples (sdk.md)."""

import os
import pathlib
import time

import pytest

from modelarts.session import Session

ENV = os.environ
PROJECT = ENV["TRAINYARD_PROJECT"]
OTHER_PROJECT = ENV["TRAINYARD_OTHER_PROJECT"]
REGION = ENV["TRAINYARD_REGION"]
STORAGE = pathlib.Path(ENV["TRAINYARD_STORAGE_ROOT"]) / PROJECT
REPO = pathlib.Path(__file__).resolve().parents[3]

BOOT = '''import os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
print("boot.py running rank", os.environ.get("RANK"), "args", sorted(args), flush=True)
time.sleep(float(args.get("sleep", "0")))
print("boot.py done", flush=True)
'''


@pytest.fixture(scope="session", autouse=True)
def bucket():
    """The OBS paths the samples name, as folders of the project's storage."""
    for d in ("bucket/src", "bucket/data/train", "bucket/dataset", "bucket/output", "bucket/log",
              "datasets/4AZNvFkN7KYr5EdhFkH/UOF9BIeSGArwVt0oI6T", "datasets/your_dataset_id/your_dataset_version_id"):
        (STORAGE / d).mkdir(parents=True, exist_ok=True)
    (STORAGE / "bucket/src/boot.py").write_text(BOOT)
    (STORAGE / "bucket/data/train/data.csv").write_text("x,y\n1,5\n2,8\n3,11\n")
    return STORAGE


@pytest.fixture(scope="session")
def session():
    """AK/SK, as the SDK reference writes it (endpoint from $MODELARTS_ENDPOINT)."""
    return Session(access_key=ENV["TRAINYARD_AK"], secret_key=ENV["TRAINYARD_SK"], project_id=PROJECT,
                   region_name=REGION)


@pytest.fixture(scope="session")
def account_session():
    """IAM user mode: a token from POST /v3/auth/tokens."""
    return Session(account=ENV["TRAINYARD_ACCOUNT"], username=ENV["TRAINYARD_USER"],
                   password=ENV["TRAINYARD_PASSWORD"], region_name=REGION, project_id=PROJECT)


@pytest.fixture(scope="session")
def token_session():
    return Session(token=ENV["TRAINYARD_TOKEN"], project_id=PROJECT)


def wait_until(predicate, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, "timed out waiting for %s" % what
        time.sleep(0.2)


def wait_status(job, statuses, timeout=60):
    return wait_until(lambda: job.get_job_info().get("status") in statuses and job.get_job_info(),
                      timeout, "status in %s" % (statuses,))
