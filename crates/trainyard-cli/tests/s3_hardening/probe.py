"""Real S3 clients (boto3/botocore signers) against trainyard's OBS/S3 endpoint, for
tests/it/s3_hardening.rs. Usage: probe.py COMMAND JSON-ARGS; prints one JSON object."""

import concurrent.futures
import contextlib
import datetime
import email.utils
import json
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import botocore.auth
import botocore.config
import botocore.credentials
import botocore.exceptions
from botocore.awsrequest import AWSRequest

REGION = "trainyard"


def client(a, ak=None, sk=None, token=None, sig="s3v4"):
    return boto3.client(
        "s3", endpoint_url=a["endpoint"], region_name=REGION,
        aws_access_key_id=ak or a["ak"], aws_secret_access_key=sk or a["sk"], aws_session_token=token,
        config=botocore.config.Config(signature_version=sig, s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


@contextlib.contextmanager
def clock(offset):
    """botocore's signers see a clock `offset` seconds off."""
    now, fmt = botocore.auth.get_current_datetime, botocore.auth.formatdate
    botocore.auth.get_current_datetime = lambda: now() + datetime.timedelta(seconds=offset)
    botocore.auth.formatdate = lambda *_, **__: email.utils.formatdate(time.time() + offset, usegmt=True)
    try:
        yield
    finally:
        botocore.auth.get_current_datetime, botocore.auth.formatdate = now, fmt


def outcome(fn):
    """(HTTP status, S3 error code or "ok", response headers)."""
    try:
        r = fn()
        meta = r.get("ResponseMetadata", {}) if isinstance(r, dict) else {}
        return {"status": meta.get("HTTPStatusCode", 200), "code": "ok", "headers": meta.get("HTTPHeaders", {})}
    except botocore.exceptions.ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        return {"status": meta.get("HTTPStatusCode"), "code": e.response.get("Error", {}).get("Code"),
                "headers": meta.get("HTTPHeaders", {})}


def fetch(url, method="GET", headers=None, data=None):
    """A raw request: (status, S3 error code or "ok", body bytes)."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, "ok", r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        code = body.split(b"<Code>")[1].split(b"</Code>")[0].decode() if b"<Code>" in body else ""
        return e.code, code, body


def creds(ak, sk, token=None):
    return botocore.credentials.Credentials(ak, sk, token)


def signed(url, method, signer, tamper=False):
    """`url` signed in its headers by `signer`; with `tamper`, the signature is replaced by
    zeros (so the server's expected signature is the one returned). Returns (headers, sig)."""
    req = AWSRequest(method=method, url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    signer.add_auth(req)
    headers = dict(req.headers.items())
    auth = headers["Authorization"]
    if auth.startswith("AWS "):
        sig = auth.rsplit(":", 1)[1]
        bad = "A" * (len(sig) - 1) + "="
        if tamper:
            headers["Authorization"] = auth[: -len(sig)] + bad
    else:
        sig = auth.rsplit("Signature=", 1)[1]
        if tamper:
            headers["Authorization"] = auth[: -len(sig)] + "0" * len(sig)
    return headers, sig


def tampered_url(url):
    """A presigned URL with its signature replaced; returns (url, the original signature)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    sig = ""
    out = []
    for k, v in query:
        if k in ("Signature", "X-Amz-Signature"):
            sig = v
            v = "0" * len(v) if k == "X-Amz-Signature" else "A" * (len(v) - 1) + "="
        out.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(out))), sig


def cmd_layers(a):
    """Rate limit, object size limit with multipart beyond it, request ids."""
    # 30 requests signed first, then sent at once (a slow client alone would stay in the rate).
    burst = client(a, a["limited_ak"], a["limited_sk"])
    links = [burst.generate_presigned_url("list_buckets", ExpiresIn=600) for _ in range(30)]
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        codes = [code for _, code, _ in pool.map(fetch, links)]
    c = client(a)
    limit = a["max_object_bytes"]
    out = {"burst": codes}
    out["at_limit"] = outcome(lambda: c.put_object(Bucket="big", Key="exact.bin", Body=b"e" * limit))
    out["over_limit"] = outcome(lambda: c.put_object(Bucket="big", Key="over.bin", Body=b"o" * (limit + 1)))
    up = c.create_multipart_upload(Bucket="big", Key="joined.bin")["UploadId"]
    sizes = [limit, limit, limit // 2]
    parts = []
    for i, n in enumerate(sizes, start=1):
        r = c.upload_part(Bucket="big", Key="joined.bin", UploadId=up, PartNumber=i, Body=bytes([64 + i]) * n)
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    out["big_part"] = outcome(lambda: c.upload_part(Bucket="big", Key="joined.bin", UploadId=up, PartNumber=9,
                                                     Body=b"p" * (limit + 1)))
    out["complete"] = outcome(lambda: c.complete_multipart_upload(
        Bucket="big", Key="joined.bin", UploadId=up, MultipartUpload={"Parts": parts}))
    body = c.get_object(Bucket="big", Key="joined.bin")["Body"].read()
    out["joined_size"] = len(body)
    out["joined_ok"] = body == b"".join(bytes([64 + i]) * n for i, n in enumerate(sizes, start=1))
    out["missing"] = outcome(lambda: c.get_object(Bucket="big", Key="nope.bin"))
    out["request_id"] = outcome(lambda: c.list_objects_v2(Bucket="big"))["headers"].get("x-request-id")
    json.dump(out, sys.stdout)


def cmd_signatures(a):
    """Request time, presigned lifetimes, temporary keys and their security token."""
    url = a["endpoint"] + "/sig/hello.txt"
    v2, v4 = client(a, sig="s3"), client(a)
    out = {}
    out["v2_now"] = outcome(lambda: v2.get_object(Bucket="sig", Key="hello.txt"))
    for name, offset in [("v2_past", -1200), ("v2_future", 1200), ("v2_2010", -int(time.time()) + 1264982400)]:
        with clock(offset):
            out[name] = outcome(lambda: v2.get_object(Bucket="sig", Key="hello.txt"))
    for name, offset in [("v4_past", -1200), ("v4_future", 1200)]:
        with clock(offset):
            out[name] = outcome(lambda: v4.get_object(Bucket="sig", Key="hello.txt"))
    params = {"Bucket": "sig", "Key": "hello.txt"}
    for name, cl, secs in [("pre_v2_hour", v2, 3600), ("pre_v2_8d", v2, 691200),  # 8 days
                           ("pre_v4_week", v4, 604800), ("pre_v4_over", v4, 604801),
                           ("pre_v4_max", v4, 4294967295)]:
        status, code, _ = fetch(cl.generate_presigned_url("get_object", Params=params, ExpiresIn=secs))
        out[name] = {"status": status, "code": code}
    # SigV2 signed with Expires=9999999999 (what the issue saw accepted).
    link = v2.generate_presigned_url("get_object", Params=params, ExpiresIn=9999999999 - int(time.time()))
    assert "Expires=9999999999" in link, link
    status, code, _ = fetch(link)
    out["pre_v2_forever"] = {"status": status, "code": code}

    t = a["temp"]
    with_token = client(a, t["access"], t["secret"], t["securitytoken"])
    out["temp_v4"] = outcome(lambda: with_token.get_object(Bucket="sig", Key="hello.txt"))
    out["temp_v2"] = outcome(lambda: client(a, t["access"], t["secret"], t["securitytoken"], sig="s3")
                             .get_object(Bucket="sig", Key="hello.txt"))
    out["temp_presigned"] = dict(zip(["status", "code"], fetch(with_token.generate_presigned_url(
        "get_object", Params=params, ExpiresIn=600))[:2]))
    out["temp_no_token"] = outcome(lambda: client(a, t["access"], t["secret"]).get_object(Bucket="sig", Key="hello.txt"))
    out["temp_wrong_token"] = outcome(lambda: client(a, t["access"], t["secret"], "not-the-token")
                                      .get_object(Bucket="sig", Key="hello.txt"))
    # Huawei's header name for the token, beside a SigV2 signature.
    headers, _ = signed(url, "GET", botocore.auth.HmacV1Auth(creds(t["access"], t["secret"])))
    headers["x-obs-security-token"] = t["securitytoken"]
    out["temp_obs_header"] = dict(zip(["status", "code"], fetch(url, headers=headers)[:2]))
    json.dump(out, sys.stdout)


def cmd_multipart(a):
    """Open uploads, listed; parts, listed; the per-project cap."""
    c = client(a)
    ids = {}
    for key in a["keys"]:
        ids[key] = c.create_multipart_upload(Bucket=a["bucket"], Key=key)["UploadId"]
    first = a["keys"][0]
    for n, size in [(1, 1000), (2, 2000)]:
        c.upload_part(Bucket=a["bucket"], Key=first, UploadId=ids[first], PartNumber=n, Body=b"x" * size)
    out = {"ids": ids}
    out["cap"] = outcome(lambda: c.create_multipart_upload(Bucket=a["bucket"], Key="one-too-many"))
    listed = c.list_multipart_uploads(Bucket=a["bucket"])
    out["listed"] = [[u["Key"], u["UploadId"]] for u in listed.get("Uploads", [])]
    parts = c.list_parts(Bucket=a["bucket"], Key=first, UploadId=ids[first])
    out["parts"] = [[p["PartNumber"], p["Size"]] for p in parts.get("Parts", [])]
    out["parts_other_key"] = outcome(lambda: c.list_parts(Bucket=a["bucket"], Key="other", UploadId=ids[first]))
    json.dump(out, sys.stdout)


def cmd_uploads(a):
    """The bucket's open uploads now, then one more started."""
    c = client(a)
    listed = c.list_multipart_uploads(Bucket=a["bucket"]).get("Uploads", [])
    more = outcome(lambda: c.create_multipart_upload(Bucket=a["bucket"], Key="after-sweep"))
    json.dump({"listed": [u["Key"] for u in listed], "more": more["code"]}, sys.stdout)


def cmd_secrets(a):
    """Failed and successful signed requests of every kind; prints every secret the server
    saw or computed: secret keys, expected signatures, security tokens."""
    url = a["endpoint"] + "/sec/hello.txt"
    t = a["temp"]
    seen = [a["sk"], t["secret"], t["securitytoken"]]
    results = {}
    kinds = [
        ("v2", lambda tamper: signed(url, "GET", botocore.auth.HmacV1Auth(creds(a["ak"], a["sk"])), tamper)),
        ("v4", lambda tamper: signed(url, "GET", botocore.auth.S3SigV4Auth(creds(a["ak"], a["sk"]), "s3", REGION),
                                     tamper)),
        ("temp_v4", lambda tamper: signed(url, "GET", botocore.auth.S3SigV4Auth(
            creds(t["access"], t["secret"], t["securitytoken"]), "s3", REGION), tamper)),
        ("temp_v2", lambda tamper: signed(url, "GET", botocore.auth.HmacV1Auth(
            creds(t["access"], t["secret"], t["securitytoken"])), tamper)),
    ]
    for name, sign in kinds:
        for tamper in (False, True):
            headers, sig = sign(tamper)
            seen.append(sig)
            results[f"{name}_{'bad' if tamper else 'good'}"] = fetch(url, headers=headers)[0]
    for name, cl in [("pre_v2", client(a, sig="s3")), ("pre_v4", client(a)),
                     ("pre_temp", client(a, t["access"], t["secret"], t["securitytoken"]))]:
        link = cl.generate_presigned_url("get_object", Params={"Bucket": "sec", "Key": "hello.txt"}, ExpiresIn=600)
        bad, sig = tampered_url(link)
        seen.append(sig)
        results[f"{name}_good"] = fetch(link)[0]
        results[f"{name}_bad"] = fetch(bad)[0]
    # A wrong secret through boto3 itself (the server computes the right signature).
    results["wrong_secret"] = outcome(lambda: client(a, sk="not-" + a["sk"]).list_buckets())["code"]
    json.dump({"results": results, "secrets": seen}, sys.stdout)


def cmd_race(a):
    """GETs `key` at least `count` times while a job swaps it; counts what came back."""
    c = client(a)
    seen = {}
    for _ in range(a["count"]):
        try:
            body = c.get_object(Bucket=a["bucket"], Key=a["key"])["Body"].read().decode(errors="replace")
        except botocore.exceptions.ClientError as e:
            body = "error:" + e.response.get("Error", {}).get("Code", "")
        seen[body] = seen.get(body, 0) + 1
    json.dump(seen, sys.stdout)


def cmd_links(a):
    """PUT, LIST and DELETE where the test planted symlinks to outside the project."""
    c = client(a)
    b = a["bucket"]
    out = {}
    out["put_on_link"] = outcome(lambda: c.put_object(Bucket=b, Key="planted/file-link", Body=b"written by PUT"))
    out["put_below_dir_link"] = outcome(lambda: c.put_object(Bucket=b, Key="planted/dir-link/x", Body=b"nope"))
    out["get_below_dir_link"] = outcome(lambda: c.get_object(Bucket=b, Key="planted/dir-link/canary.txt"))
    up = c.create_multipart_upload(Bucket=b, Key="planted/dir-link/y")["UploadId"]
    etag = c.upload_part(Bucket=b, Key="planted/dir-link/y", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
    out["mpu_below_dir_link"] = outcome(lambda: c.complete_multipart_upload(
        Bucket=b, Key="planted/dir-link/y", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}))
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=b, Prefix="planted/").get("Contents", [])]
    out["listed"] = keys
    out["delete_link"] = outcome(lambda: c.delete_object(Bucket=b, Key="planted/other-link"))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](json.loads(sys.argv[2]))
