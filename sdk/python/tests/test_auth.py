"""Authentication modes of the SDK and the server's AK/SK verification, including signatures
made by an independent signer (huaweicloudsdkcore from PyPI)."""

import datetime
import json
import os
import urllib.error
import urllib.request

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from conftest import ENV, OTHER_PROJECT, PROJECT, REGION
from modelarts.estimator import Estimator
from modelarts.exception import ModelArtsError
from modelarts.session import Session

HOST = ENV["MODELARTS_ENDPOINT"].split("://", 1)[1].rstrip("/")


def send(method, path, headers, body=None):
    req = urllib.request.Request("http://%s%s" % (HOST, path), data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def hw_signed(method, path, query=None, body=None, ak=None, sk=None, date=None):
    """Headers and URI signed by huaweicloudsdkcore's Signer."""
    headers = {"Content-Type": "application/json"}
    if date:
        headers["X-Sdk-Date"] = date
    request = SdkRequest(method=method, schema="http", host=HOST, resource_path=path, query_params=query or [],
                         header_params=headers, body=body or "")
    Signer(BasicCredentials(ak or ENV["TRAINYARD_AK"], sk or ENV["TRAINYARD_SK"])).sign(request)
    return request


def test_all_modes_list_jobs(session, account_session, token_session):
    for s in (session, account_session, token_session):
        assert Estimator.get_job_list(modelarts_session=s)["is_success"] is True, s
    assert session.auth_mode == "aksk" and account_session.auth_mode == "password"
    # set_endpoint and endpoint= both point the SDK at the server.
    Session.set_endpoint(iam_endpoint=ENV["MODELARTS_ENDPOINT"], modelarts_endpoint=ENV["MODELARTS_ENDPOINT"],
                         region_name=REGION)
    by_region = Session(account=ENV["TRAINYARD_ACCOUNT"], username=ENV["TRAINYARD_USER"],
                        password=ENV["TRAINYARD_PASSWORD"], region_name=REGION)
    assert by_region.project_id == PROJECT
    explicit = Session(access_key=ENV["TRAINYARD_AK"], secret_key=ENV["TRAINYARD_SK"], project_id=PROJECT,
                       region_name=REGION, endpoint=ENV["MODELARTS_ENDPOINT"])
    assert Estimator.get_framework_list(explicit)


def test_iam_endpoints(account_session):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": ENV["TRAINYARD_USER"], "password": ENV["TRAINYARD_PASSWORD"],
        "domain": {"name": ENV["TRAINYARD_ACCOUNT"]}}}}, "scope": {"project": {"name": REGION}}}}
    req = urllib.request.Request(ENV["MODELARTS_ENDPOINT"] + "/v3/auth/tokens", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201
        token = resp.headers["X-Subject-Token"]
        issued = json.loads(resp.read())["token"]
    assert token and issued["project"]["id"] == PROJECT and issued["expires_at"].endswith("Z")
    status, projects = send("GET", "/v3/projects?name=" + REGION, {"X-Auth-Token": token})
    assert status == 200 and [p["id"] for p in projects["projects"]] == [PROJECT]
    status, _ = send("GET", "/v1/%s/training-jobs" % PROJECT, {"X-Auth-Token": token})
    assert status == 200
    status, err = send("GET", "/v1/%s/training-jobs" % OTHER_PROJECT, {"X-Auth-Token": token})
    assert status == 403 and err["error_code"] == "ModelArts.0210"
    with pytest.raises(ModelArtsError) as refused:
        Session(account=ENV["TRAINYARD_ACCOUNT"], username=ENV["TRAINYARD_USER"], password="wrong",
                region_name=REGION, project_id=PROJECT)
    assert refused.value.http_status == 401 and refused.value.error_code == "ModelArts.0208"


def test_independent_signer_is_accepted():
    path = "/v1/%s/training-jobs" % PROJECT
    r = hw_signed("GET", path, query=[("per_page", 5), ("search_content", "a b*"), ("order", "asc")])
    status, body = send("GET", r.uri, r.header_params)
    assert status == 200 and body["is_success"] is True, body

    config_path = "/v1/%s/training-job-configs" % PROJECT
    payload = json.dumps({"config_name": "signed_cfg", "worker_server_num": 1, "app_url": "/bucket/src/",
                          "boot_file_url": "/bucket/src/boot.py", "spec_id": 1, "engine_id": 1})
    r = hw_signed("POST", config_path, body=payload)
    status, body = send("POST", r.uri, r.header_params, r.body)
    assert status == 200 and body["is_success"] is True, body
    r = hw_signed("DELETE", config_path + "/signed_cfg")
    assert send("DELETE", r.uri, r.header_params)[0] == 200


def test_one_byte_changes_are_refused():
    path = "/v1/%s/training-job-configs" % PROJECT
    payload = json.dumps({"config_name": "tampered", "worker_server_num": 1, "app_url": "/bucket/src/",
                          "boot_file_url": "/bucket/src/boot.py", "spec_id": 1, "engine_id": 1})

    def refused(status_body):
        status, body = status_body
        assert status == 401 and body["error_code"] == "ModelArts.0208", (status, body)

    r = hw_signed("POST", path, body=payload)
    refused(send("POST", r.uri, r.header_params, r.body.replace(b"tampered", b"tamperee")))
    r = hw_signed("GET", path + "/tampered")
    refused(send("GET", r.uri.replace("tampered", "tamperee"), r.header_params))
    r = hw_signed("GET", path, query=[("per_page", 5)])
    refused(send("GET", r.uri.replace("per_page=5", "per_page=6"), r.header_params))
    r = hw_signed("GET", path)
    date = r.header_params["X-Sdk-Date"]
    later = (datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ") + datetime.timedelta(seconds=1)).strftime(
        "%Y%m%dT%H%M%SZ")
    refused(send("GET", r.uri, dict(r.header_params, **{"X-Sdk-Date": later})))
    # Untouched, the same requests pass.
    assert send("GET", r.uri, r.header_params)[0] == 200


def test_auth_error_codes():
    path = "/v1/%s/training-jobs" % PROJECT
    stale = (datetime.datetime.utcnow() - datetime.timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    future = (datetime.datetime.utcnow() + datetime.timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    for date in (stale, future):
        r = hw_signed("GET", path, date=date)
        status, body = send("GET", r.uri, r.header_params)
        assert (status, body["error_code"]) == (401, "ModelArts.0207"), body
    r = hw_signed("GET", path)
    cases = [
        ({"X-Sdk-Date": r.header_params["X-Sdk-Date"]}, 401, "ModelArts.0205"),
        (dict(r.header_params, Authorization="SDK-HMAC-SHA256 garbage"), 401, "ModelArts.0206"),
        (dict(r.header_params, **{"X-Sdk-Date": "yesterday"}), 401, "ModelArts.0206"),
        ({}, 401, "ModelArts.0201"),
        ({"X-Auth-Token": "no-such-token"}, 401, "ModelArts.0203"),
    ]
    for headers, status, code in cases:
        got, body = send("GET", path, headers)
        assert (got, body["error_code"]) == (status, code), (headers, body)
        assert set(body) == {"is_success", "error_code", "error_message"}
    unknown = hw_signed("GET", path, ak="NO-SUCH-AK", sk="x")
    status, body = send("GET", unknown.uri, unknown.header_params)
    assert (status, body["error_code"]) == (403, "ModelArts.0206")
    # A valid signature by project B's key on project A's path.
    other = hw_signed("GET", path, ak=ENV["TRAINYARD_OTHER_AK"], sk=ENV["TRAINYARD_OTHER_SK"])
    status, body = send("GET", other.uri, other.header_params)
    assert (status, body["error_code"]) == (403, "ModelArts.0210")
    # The SDK's own signer on the other project's session works there.
    s = Session(access_key=ENV["TRAINYARD_OTHER_AK"], secret_key=ENV["TRAINYARD_OTHER_SK"], project_id=OTHER_PROJECT,
                region_name=REGION)
    assert Estimator.get_job_list(modelarts_session=s)["is_success"] is True
    wrong = Session(access_key=ENV["TRAINYARD_AK"], secret_key="not-the-secret", project_id=PROJECT,
                    region_name=REGION)
    assert Estimator.get_job_list(modelarts_session=wrong)["error_code"] == "ModelArts.0208"


def test_notebook_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MODELARTS_ACCESS_KEY", ENV["TRAINYARD_AK"])
    monkeypatch.setenv("MODELARTS_SECRET_KEY", ENV["TRAINYARD_SK"])
    monkeypatch.setenv("MODELARTS_PROJECT_ID", PROJECT)
    assert Estimator.get_job_list(modelarts_session=Session())["is_success"] is True
    assert os.environ["MODELARTS_ENDPOINT"]
