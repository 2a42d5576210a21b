"""Parity with the official ModelArts SDK for what training-management scripts use:
``session.obs`` over trainyard's OBS/S3 endpoint (also reached with boto3 and Huawei's own
``esdk-obs-python`` client as the official SDK configures it), ``JOB_STATE``, attribute access on
list entries, ``pool_id``/``poolId``, and the catalog's documented flavor and engine names."""

import os
import pathlib
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import ENV, PROJECT, STORAGE, wait_until
from modelarts import estimator as estimator_module
from modelarts.estimator import JOB_STATE, Estimator
from modelarts.obs import ObsError
from modelarts.session import Session

ENDPOINT = ENV["MODELARTS_ENDPOINT"]


def s3(ak, sk):
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="trainyard", config=botocore.config.Config(
                            s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def tree(root):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*") if p.is_file())


def test_job_state_names_by_code():
    assert JOB_STATE is estimator_module.JOB_STATE
    assert JOB_STATE[1] == "JOBSTAT_INIT"
    assert JOB_STATE[8] == "JOBSTAT_RUNNING"
    assert JOB_STATE[10] == "JOBSTAT_COMPLETED"
    assert JOB_STATE[12] == "JOBSTAT_KILLED"
    assert JOB_STATE[22] == "JOBSTAT_MOUNT_FAILED"
    assert estimator_module.HTTPS_GET == "GET" and estimator_module.HTTPS_POST == "POST"


def test_session_obs_places_files_as_the_official_sdk(session, tmp_path):
    src = tmp_path / "code"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('train')\n")
    (src / "pkg" / "util.py").write_text("X = 1\n")
    single = tmp_path / "notes.txt"
    single.write_text("hello obs\n")

    session.obs.upload_file(str(single), "obs://obsb/in/")
    session.obs.upload_dir(str(src), "obs://obsb/in/")
    # upload_dir places the folder itself below the destination.
    assert tree(STORAGE / "obsb") == ["in/code/pkg/util.py", "in/code/train.py", "in/notes.txt"]
    assert (STORAGE / "obsb/in/notes.txt").read_text() == "hello obs\n"

    assert session.obs.is_obs_path_exists("obs://obsb/in/notes.txt")
    assert session.obs.is_obs_path_exists("obs://obsb/in/code/")
    assert session.obs.is_obs_path_exists("obs://obsb/in/code")
    assert not session.obs.is_obs_path_exists("obs://obsb/in/missing.txt")
    assert not session.obs.is_obs_path_exists("obs://no-such-bucket/x/")
    assert session.obs.is_obs_file("obs://obsb/in/code/train.py")

    out = tmp_path / "out"
    session.obs.download_file("obs://obsb/in/notes.txt", str(out / "one"))
    assert (out / "one" / "notes.txt").read_text() == "hello obs\n"
    session.obs.download_dir("obs://obsb/in/code/", str(out / "dir"))
    assert tree(out / "dir") == ["code/pkg/util.py", "code/train.py"]

    # The official SDK's upload_data / download_data on the Session.
    session.upload_data("/obsb/data/", str(single))
    assert (STORAGE / "obsb/data/notes.txt").exists()
    session.download_data("/obsb/data/notes.txt", str(out / "copy.txt"))
    assert (out / "copy.txt").read_text() == "hello obs\n"

    # Malformed paths raise as the official SDK does (an Exception).
    for bad in [lambda: session.obs.upload_file(str(single), "obs://obsb/in"),
                lambda: session.obs.upload_file(str(single), "/obsb/in/"),
                lambda: session.obs.upload_file(str(tmp_path / "nope"), "obs://obsb/in/"),
                lambda: session.obs.download_file("obs://obsb/../x", str(out))]:
        with pytest.raises(Exception):
            bad()
    with pytest.raises(ObsError):
        session.obs.download_file("obs://obsb/in/absent.txt", str(out))


def test_obs_needs_access_keys(token_session):
    with pytest.raises(ValueError):
        token_session.obs.upload_file(__file__, "obs://obsb/x/")


def test_boto3_and_the_official_obs_client_reach_the_endpoint(session, tmp_path):
    session.obs.upload_file(__file__, "obs://s3b/dir/")
    client = s3(ENV["TRAINYARD_AK"], ENV["TRAINYARD_SK"])
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert "s3b" in names
    client.put_object(Bucket="s3b", Key="dir/from-boto3.txt", Body=b"boto3 bytes")
    assert (STORAGE / "s3b/dir/from-boto3.txt").read_bytes() == b"boto3 bytes"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="s3b", Prefix="dir/")["Contents"]]
    assert keys == ["dir/from-boto3.txt", "dir/test_compat.py"]
    listed = client.list_objects_v2(Bucket="s3b", Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["dir/"]
    assert client.get_object(Bucket="s3b", Key="dir/from-boto3.txt", Range="bytes=6-")["Body"].read() == b"bytes"
    client.download_file("s3b", "dir/test_compat.py", str(tmp_path / "copy.py"))
    assert (tmp_path / "copy.py").read_bytes() == pathlib.Path(__file__).read_bytes()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.get_object(Bucket="s3b", Key="dir/../../../credentials.toml")
    assert err.value.response["Error"]["Code"] in ("InvalidArgument", "AccessDenied")
    client.delete_object(Bucket="s3b", Key="dir/from-boto3.txt")
    assert not (STORAGE / "s3b/dir/from-boto3.txt").exists()

    # Huawei's esdk-obs-python, configured as the official SDK configures it (path style, so
    # it signs AWS V2), puts a file under "bucket/dir" and reads it back.
    from obs import ObsClient
    obs = ObsClient(access_key_id=ENV["TRAINYARD_AK"], secret_access_key=ENV["TRAINYARD_SK"], server=ENDPOINT,
                    is_secure=ENDPOINT.startswith("https"), path_style=True)
    resp = obs.putFile("s3b/esdk", "note.txt", __file__)
    assert resp.status == 200, resp.errorMessage
    assert (STORAGE / "s3b/esdk/note.txt").read_bytes() == pathlib.Path(__file__).read_bytes()
    resp = obs.listObjects(bucketName="s3b", prefix="esdk/", max_keys=100)
    assert resp.status == 200 and [c.key for c in resp.body.contents] == ["esdk/note.txt"]
    resp = obs.getObject("s3b", "esdk/note.txt", downloadPath=str(tmp_path / "esdk.txt"))
    assert resp.status == 200
    assert (tmp_path / "esdk.txt").read_bytes() == pathlib.Path(__file__).read_bytes()
    assert obs.getObjectMetadata("s3b", "esdk/absent.txt").status == 404


def test_another_projects_keys_see_nothing_of_this_project(session):
    session.obs.upload_file(__file__, "obs://privb/secret/")
    other = s3(ENV["TRAINYARD_OTHER_AK"], ENV["TRAINYARD_OTHER_SK"])
    assert "privb" not in [b["Name"] for b in other.list_buckets()["Buckets"]]
    for call in [lambda: other.list_objects_v2(Bucket="privb"),
                 lambda: other.get_object(Bucket="privb", Key="secret/test_compat.py"),
                 lambda: other.head_object(Bucket="privb", Key="secret/test_compat.py")]:
        with pytest.raises(botocore.exceptions.ClientError) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    other.create_bucket(Bucket="privb")
    other.put_object(Bucket="privb", Key="secret/test_compat.py", Body=b"theirs")
    # Their bucket of the same name is theirs: this project's file is untouched.
    assert (STORAGE / "privb/secret/test_compat.py").read_bytes() == pathlib.Path(__file__).read_bytes()
    # A wrong secret is refused.
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3(ENV["TRAINYARD_AK"], "wrong-secret").list_buckets()
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


BENCH = '''import sys, time
print("bench step", sys.argv[1:], flush=True)
time.sleep(0.5)
'''


def test_benchmark_harness_polls_job_state_names(session, tmp_path):
    """In the style of a benchmark driver: code uploaded through session.obs, a documented GPU
    flavor and PyTorch engine name, then JOB_STATE[status] polled until the job ends."""
    code = tmp_path / "bench"
    code.mkdir()
    (code / "run.py").write_text(BENCH)
    session.obs.upload_dir(str(code), "obs://harness/")
    est = Estimator(modelarts_session=session, framework_type="PyTorch", framework_version="PyTorch-1.4.0-python3.6",
                    code_dir="/harness/bench/", boot_file="/harness/bench/run.py", output_path="/harness/out/",
                    log_url="/harness/log/", train_instance_type="modelarts.vm.gpu.free", train_instance_count=1,
                    hyperparameters=[{"label": "batch", "value": 8}])
    job = est.fit(inputs="/bucket/data/", wait=False, job_name="bench-harness")
    seen = []
    deadline = time.time() + 60
    while True:
        jobs = Estimator.get_job_list(session, per_page=50)["jobs"]
        mine = [j for j in jobs if j.job_id == job.job_id]
        assert mine and mine[0]["job_id"] == mine[0].job_id
        state = JOB_STATE[mine[0].status]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in ("JOBSTAT_COMPLETED", "JOBSTAT_FAILED", "JOBSTAT_KILLED", "JOBSTAT_LOST"):
            break
        assert time.time() < deadline, seen
        time.sleep(0.2)
    assert seen[-1] == "JOBSTAT_COMPLETED", seen
    log_files = job.get_job_log_file_list()["log_file_list"]
    assert "bench step" in job.get_job_log(log_file=log_files[-1])["content"]
    info = job.get_job_info()
    assert info["engine_version"] == "PyTorch-1.4.0-python3.6"
    assert info["spec_code"] == "modelarts.vm.gpu.free"


@pytest.mark.parametrize("flavor", ["modelarts.bm.gpu.8v100", "modelarts.vm.cpu.8u"])
def test_documented_flavors_run(session, flavor):
    est = Estimator(modelarts_session=session, framework_type="PyTorch", framework_version="PyTorch-1.1.0-python3.6",
                    code_dir="/bucket/src/", boot_file="/bucket/src/boot.py", output_path="/bucket/output/",
                    train_instance_type=flavor, train_instance_count=1)
    job = est.fit(inputs="/bucket/data/", wait=True, job_name="flavor-" + flavor.replace(".", "-"))
    assert job.get_job_info()["status"] == 10


def test_catalog_knows_documented_names(session):
    assert "modelarts.vm.gpu.free" in Estimator.get_train_instance_types(session)
    codes = {s["spec_code"]: s for s in session.call("GET", "/job/resource-specs")["specs"]}
    for code in ("modelarts.vm.gpu.free", "modelarts.bm.gpu.8v100", "modelarts.kat1.8xlarge",
                 "modelarts.vm.gpu.p100", "modelarts.vm.gpu.v100"):
        assert code in codes, sorted(codes)
    assert codes["modelarts.kat1.8xlarge"]["no_resource"] is True
    engines = {(e["engine_name"], e["engine_version"]) for e in session.call("GET", "/job/ai-engines")["engines"]}
    for pair in [("PyTorch", "PyTorch-1.1.0-python3.6"), ("PyTorch", "PyTorch-1.4.0-python3.6"),
                 ("MindSpore-GPU", "MindSpore-1.1.1-python3.7")]:
        assert pair in engines


def test_ascend_flavor_is_refused_with_a_clear_error(session):
    from modelarts.exception import ModelArtsError
    est = Estimator(modelarts_session=session, framework_type="Ascend-Powered-Engine",
                    framework_version="MindSpore-1.1.1-python3.7-aarch64", code_dir="/bucket/src/",
                    boot_file="/bucket/src/boot.py", output_path="/bucket/output/",
                    train_instance_type="modelarts.kat1.8xlarge", train_instance_count=1)
    with pytest.raises(ModelArtsError) as err:
        est.fit(inputs="/bucket/data/", wait=False, job_name="ascend-job")
    assert "Ascend" in str(err.value)


@pytest.mark.parametrize("kwargs", [{"pool_id": "pool-sdk"}, {"poolId": "pool-sdk"},
                                    {"pool_id": "pool-sdk", "train_instance_type": "modelarts.vm.cpu.2u"}])
def test_pool_id_reaches_the_request(session, kwargs):
    args = dict(modelarts_session=session, code_dir="/bucket/src/", boot_file="/bucket/src/boot.py",
                output_path="/bucket/output/", train_instance_count=1)
    args.update(kwargs)
    job = Estimator(**args).fit(inputs="/bucket/data/", wait=True,
                                job_name="pool-%s" % "-".join(sorted(kwargs)).replace("_", ""))
    info = job.get_job_info()
    assert info["pool_id"] == "pool-sdk", info
    assert info["status"] == 10


def test_raw_pool_only_body_with_poolId_is_accepted(session):
    body = {"job_name": "raw-poolid", "config": {"worker_server_num": 1, "app_url": "/bucket/src/",
                                                 "boot_file_url": "/bucket/src/boot.py", "data_url": "/bucket/data/",
                                                 "train_url": "/bucket/output/", "poolId": "pool-raw"}}
    status, payload = session.request("POST", "/training-jobs", body=body)
    assert status == 200 and payload["is_success"], payload
    info = wait_until(lambda: (lambda i: i if i.get("status") in (10, 11) else None)(
        session.call("GET", "/training-jobs/%s/versions/%s" % (payload["job_id"], payload["version_id"]))),
        60, "raw poolId job end")
    assert info["pool_id"] == "pool-raw" and info["status"] == 10


def test_every_estimator_argument_reaches_the_request_or_is_refused(session):
    """An unknown keyword is refused at once; the nas_* arguments become an nfs volume, which the
    server refuses with what would make it work (a host_path volume); environment warns online."""
    base = dict(modelarts_session=session, code_dir="/bucket/src/", boot_file="/bucket/src/boot.py",
                output_path="/bucket/output/", train_instance_count=1, pool_id="pool-sdk")
    with pytest.raises(TypeError, match="unexpected keyword arguments: nas_sharee_addr"):
        Estimator(nas_sharee_addr="10.0.0.1:/share", **base)
    with pytest.raises(ValueError, match="go together"):
        Estimator(nas_type="nfs", nas_share_addr="10.0.0.1:/share", **base)
    nas = Estimator(nas_type="nfs", nas_share_addr="10.0.0.1:/share", nas_mount_path="/home/work/nas", **base)
    assert nas._run_config("nas")["volumes"] == [{"nfs": {
        "id": "10.0.0.1:/share", "src_path": "10.0.0.1:/share", "dest_path": "/home/work/nas", "read_only": False}}]
    with pytest.raises(Exception) as refused:
        nas.fit(inputs="/bucket/data/", job_name="nas-job")
    assert "volumes[0].nfs" in str(refused.value) and "host_path" in str(refused.value)
    with pytest.warns(UserWarning, match="environment only applies to local training"):
        Estimator(environment="my-env", **base)._run_config("env")


def test_multipart_uploads_through_the_endpoint(session, tmp_path):
    """boto3 uploads a 20 MiB file in 8 MiB parts (what `aws s3 cp` does above 8 MiB): the object
    appears whole, no part is listed, and an aborted upload leaves nothing."""
    client = s3(ENV["TRAINYARD_AK"], ENV["TRAINYARD_SK"])
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    client.upload_file(str(big), "multipart", "data/big.bin")
    back = tmp_path / "back.bin"
    client.download_file("multipart", "data/big.bin", str(back))
    assert back.read_bytes() == big.read_bytes()
    assert (pathlib.Path(STORAGE) / "multipart/data/big.bin").read_bytes() == big.read_bytes()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="multipart").get("Contents", [])]
    assert keys == ["data/big.bin"], keys
    upload = client.create_multipart_upload(Bucket="multipart", Key="data/never.bin")["UploadId"]
    client.upload_part(Bucket="multipart", Key="data/never.bin", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    client.abort_multipart_upload(Bucket="multipart", Key="data/never.bin", UploadId=upload)
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        client.upload_part(Bucket="multipart", Key="data/never.bin", UploadId=upload, PartNumber=2, Body=b"y")
    assert gone.value.response["Error"]["Code"] == "NoSuchUpload"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="multipart").get("Contents", [])]
    assert keys == ["data/big.bin"], keys
    assert not (pathlib.Path(STORAGE) / "multipart/data/never.bin").exists()
