"""Huawei's official ``modelarts`` SDK (1.1.7) against trainyard over HTTPS.

Needs the official wheel, whose path is given in ``TRAINYARD_MODELARTS_WHEEL`` (a developer gets
it by fetching the public repository Iranb/Modelarts-start; it is never part of this repository),
and the HTTPS server that crates/trainyard-cli/tests/it/python_sdk.rs starts when that variable is
set. Without the variable the test is reported as skipped. The official package is also called
``modelarts``, so it runs in a virtualenv of its own, driven by official/drive_official_sdk.py.
"""

import os
import pathlib
import subprocess
import sys

import pytest

WHEEL = os.environ.get("TRAINYARD_MODELARTS_WHEEL", "").strip()
HERE = pathlib.Path(__file__).resolve().parent

#: What the official wheel needs at run time (installed with --no-deps: its own pins, such as
#: urllib3==1.21.1 and pyyaml==3.12, do not build on current Pythons).
DEPENDENCIES = ["requests", "six", "python-dateutil", "certifi", "urllib3", "esdk-obs-python",
                "ephemeral-port-reserve", "pyyaml", "pandas", "semantic-version", "Pillow", "configparser"]


@pytest.mark.skipif(not WHEEL, reason="TRAINYARD_MODELARTS_WHEEL is not set: the official modelarts SDK's wheel "
                                      "is not available (see docs/api-compatibility.md, 'The official ModelArts SDK')")
def test_official_sdk_over_https(tmp_path):
    assert os.path.isfile(WHEEL), "TRAINYARD_MODELARTS_WHEEL=%s is not a file" % WHEEL
    assert os.environ.get("TRAINYARD_TLS_ENDPOINT"), "the HTTPS server was not started"
    venv = tmp_path / "official-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + DEPENDENCIES, check=True)
    subprocess.run(pip + ["--no-deps", WHEEL], check=True)
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")  # the official SDK writes ~/.modelarts/config.json
    env.pop("PYTHONPATH", None)
    out = subprocess.run([str(venv / "bin/python"), str(HERE / "official" / "drive_official_sdk.py")],
                         cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=600)
    assert out.returncode == 0, out.stdout
    steps = [line[3:] for line in out.stdout.splitlines() if line.startswith("ok ")]
    assert steps == ["aksk session", "obs upload_dir", "catalog", "fit", "job info and logs", "new version and stop",
                     "obs download_dir", "visualization create/stop/delete", "delete", "account session"], out.stdout
