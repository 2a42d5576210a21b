"""Local code directories: local training (sdk.md §7) and an online job from a local code dir."""

import shutil

from conftest import REPO, STORAGE
from modelarts.environment import Environment
from modelarts.environment.conda_env import CondaDependencies
from modelarts.estimator import Estimator
from modelarts.session import Session

EXAMPLE = REPO / "crates/trainyard-server/assets/builtin/linear_regression.py"


def test_local_training_sample(tmp_path, monkeypatch):
    code = tmp_path / "tensorflow_mlp_mnist_local_mode/train"
    code.mkdir(parents=True)
    (code / "tensorflow_mlp_mnist.py").write_text(
        "import os, sys\nprint('local run', os.environ['RANK'], os.getcwd(), sys.argv[1:])\n")
    monkeypatch.setenv("MODELARTS_LOCAL_DIR", str(tmp_path / "runs"))
    for var in ("MODELARTS_ACCESS_KEY", "MODELARTS_TOKEN"):
        monkeypatch.delenv(var, raising=False)

    session = Session()
    env = Environment("tensorflow_mlp_mnist")
    cd = CondaDependencies.create(pip_packages=["tensorflow==1.13.1"], conda_packages=["python=3.6.2"])
    env.conda = cd
    estimator = Estimator(modelarts_session=session,
                          code_dir=str(code) + "/",
                          boot_file="tensorflow_mlp_mnist.py",
                          train_instance_type='local',
                          train_instance_count=1,
                          environment=env)
    job_instance = estimator.fit(wait=False, job_name='my_training_job')
    info = job_instance.wait(timeout=60)
    assert info["status"] == 10 and info["exit_code"] == 0
    log = job_instance.get_job_log(log_file=job_instance.get_job_log_file_list()["log_file_list"][0])
    assert "local run 0 %s []" % code in log["content"]
    # TensorFlow 1.13.1 has no wheel for today's Pythons: pip's refusal is in the log.
    assert "pip could not install ['tensorflow==1.13.1']" in log["content"]
    assert "conda packages ['python=3.6.2'] are not installed" in log["content"]


def test_local_environment_gets_its_pip_packages(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("import six, sys\nprint('six', six.__version__, 'from', sys.prefix)\n")
    monkeypatch.setenv("MODELARTS_LOCAL_DIR", str(tmp_path / "runs"))
    env = Environment("with_six")
    env.conda = CondaDependencies.create(pip_packages=["six==1.16.0"])
    estimator = Estimator(modelarts_session=Session(), code_dir=str(code), boot_file="train.py",
                          train_instance_type='local', train_instance_count=1, environment=env)
    job = estimator.fit(wait=False, job_name='six_job')
    info = job.wait(timeout=180)
    log = job.get_job_log(log_file=job.get_job_log_file_list()["log_file_list"][0])["content"]
    assert info["status"] == 10, log
    assert "six 1.16.0 from %s" % (tmp_path / "runs/envs/with_six") in log


def test_local_training_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELARTS_LOCAL_DIR", str(tmp_path / "runs"))
    (tmp_path / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    est = Estimator(Session(), code_dir=str(tmp_path), boot_file="slow.py", train_instance_type="local",
                    train_instance_count=1)
    job = est.fit(inputs=str(tmp_path), job_name="slow")
    assert job.get_job_info()["status"] == 8
    assert job.stop_job_version()["is_success"] is True
    assert job.get_job_info()["status"] == 12


def test_fit_from_local_code_dir_trains_the_built_in_example(session, tmp_path):
    code = tmp_path / "my_code"
    code.mkdir()
    shutil.copy(EXAMPLE, code / "train.py")
    (STORAGE / "bucket/lr-data").mkdir(parents=True, exist_ok=True)
    (STORAGE / "bucket/lr-data/points.csv").write_text("x,y\n" + "".join("%d,%d\n" % (x, 3 * x + 2) for x in range(20)))
    estimator = Estimator(modelarts_session=session, framework_type='Python', framework_version='python3',
                          code_dir=str(code), boot_file='train.py', output_path='/bucket/output/local-code/',
                          hyperparameters=[{"label": "epochs", "value": "20"}],
                          train_instance_type='modelarts.vm.cpu.2u', train_instance_count=1)
    job_instance = estimator.fit(inputs='/bucket/lr-data/', wait=True, job_name='local_code_job')
    assert job_instance.status == 10, job_instance.get_job_info()
    files = job_instance.get_job_log_file_list()["log_file_list"]
    job_log = job_instance.get_job_log(log_file=files[0], start_byte=0, offset=2048)
    assert "epoch" in job_log["content"].lower(), job_log
    info = job_instance.get_job_info()
    assert info["app_url"].startswith("/sdk-code/local_code_job-")
    uploaded = STORAGE / info["app_url"].strip("/")
    assert (uploaded / "train.py").is_file()
    assert (STORAGE / "bucket/output/local-code/model.json").is_file()
    job_instance.delete_job()
    # Deleting the job removes the code the SDK uploaded for it.
    assert not uploaded.exists()
