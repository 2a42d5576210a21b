"""``session.obs``: files to and from OBS paths, as the ModelArts SDK's ``OBSManagement`` names
and places them, over trainyard's OBS/S3 endpoint.

Paths are ``obs://bucket/dir/`` (folders end with ``/``) or ``obs://bucket/dir/file``; buckets are
the project's top-level storage folders. Requests are S3 requests signed with AWS Signature V4
(``UNSIGNED-PAYLOAD`` bodies, so large files stream) with the session's access key, so the
session must be an AK/SK one. The endpoint is ``Session(obs_endpoint=...)``,
``Session.set_endpoint(obs_endpoint=...)``, ``$MODELARTS_OBS_ENDPOINT``, else the ModelArts
endpoint itself (trainyard serves both on one port).

Placement follows the official SDK: ``upload_file(f, "obs://b/d/")`` writes ``d/<name of f>``;
``upload_dir(local, "obs://b/d/")`` writes the folder itself, ``d/<name of local>/...``;
``download_file("obs://b/d/f", dir)`` writes ``dir/f``; ``download_dir("obs://b/d/", dir)``
writes ``dir/d/...``. Malformed paths and missing local files raise ``Exception`` subclasses, as
the official SDK raises ``Exception``.
"""

import datetime
import hashlib
import hmac
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

OBS_HEAD_FORMAT = "obs://"
_HEADS = ("obs://", "s3://")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ObsError(Exception):
    """An OBS path or request the endpoint or the SDK refused."""

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.status = status
        self.code = code


def _quote(text):
    return urllib.parse.quote(text, safe="-_.~")


def _sign(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class S3Client(object):
    """The few S3 calls ``session.obs`` needs, over ``urllib`` (path-style addressing)."""

    def __init__(self, endpoint, access_key, secret_key, region=None, timeout=60):
        self.endpoint = endpoint.rstrip("/")
        self.host = urllib.parse.urlsplit(self.endpoint).netloc
        self.access_key = access_key
        self._secret_key = secret_key
        self.region = region or "us-east-1"
        self.timeout = timeout

    def _headers(self, method, path, query, extra=None):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        headers = {"host": self.host, "x-amz-date": amz_date, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        headers.update({k.lower(): v for k, v in (extra or {}).items()})
        names = sorted(headers)
        canonical_query = "&".join("%s=%s" % (_quote(k), _quote(v)) for k, v in sorted(query))
        canonical = "\n".join([method, path, canonical_query,
                               "".join("%s:%s\n" % (n, str(headers[n]).strip()) for n in names),
                               ";".join(names), "UNSIGNED-PAYLOAD"])
        scope = "%s/%s/s3/aws4_request" % (day, self.region)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
        key = _sign(("AWS4" + self._secret_key).encode("utf-8"), day)
        for part in (self.region, "s3", "aws4_request"):
            key = _sign(key, part)
        signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            self.access_key, scope, ";".join(names), signature)
        del headers["host"]
        return headers

    def request(self, method, bucket, key="", query=None, body=None, headers=None):
        """Sends one request; returns ``(status, headers, response)`` with the response still open
        for 2xx answers (the caller reads and closes it), else raises ``ObsError``."""
        path = "/" + _quote(bucket)
        if key:
            path += "/" + "/".join(_quote(p) for p in key.split("/"))
        query = [(k, v) for k, v in (query or {}).items() if v is not None]
        url = self.endpoint + path
        if query:
            url += "?" + "&".join("%s=%s" % (_quote(k), _quote(v)) for k, v in sorted(query))
        hdrs = self._headers(method, path, query, headers)
        req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            raw = err.read() if method != "HEAD" else b""
            code, message = "HTTP.%d" % err.code, raw.decode("utf-8", "replace")
            try:
                doc = ET.fromstring(raw)
                code = doc.findtext("Code") or code
                message = doc.findtext("Message") or code
            except ET.ParseError:
                pass
            raise ObsError("%s %s/%s: %s (%s)" % (method, bucket, key, message, code), err.code, code)
        except (urllib.error.URLError, socket.timeout) as err:
            raise ConnectionError("cannot reach %s: %s" % (self.endpoint, err))
        return resp.status, resp.headers, resp

    def head_object(self, bucket, key):
        """Whether the object exists."""
        try:
            _, _, resp = self.request("HEAD", bucket, key)
            resp.close()
            return True
        except ObsError as err:
            if err.status == 404:
                return False
            raise

    def put_file(self, bucket, key, local_file):
        size = os.path.getsize(local_file)
        with open(local_file, "rb") as f:
            _, _, resp = self.request("PUT", bucket, key, body=f, headers={"content-length": str(size)})
            resp.close()

    def get_file(self, bucket, key, local_file):
        _, _, resp = self.request("GET", bucket, key)
        tmp = local_file + ".part"
        with resp, open(tmp, "wb") as out:
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
        os.replace(tmp, local_file)

    def list_keys(self, bucket, prefix=""):
        """Every object key below ``prefix`` (ListObjectsV2, all pages)."""
        keys, token = [], None
        while True:
            query = {"list-type": "2", "prefix": prefix, "continuation-token": token}
            _, _, resp = self.request("GET", bucket, "", query)
            with resp:
                doc = ET.fromstring(resp.read())
            ns = doc.tag[:doc.tag.index("}") + 1] if doc.tag.startswith("{") else ""
            keys.extend(c.findtext(ns + "Key") for c in doc.findall(ns + "Contents"))
            if doc.findtext(ns + "IsTruncated") != "true":
                return keys
            token = doc.findtext(ns + "NextContinuationToken")


def _split(obs_path, what):
    """``obs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not isinstance(obs_path, str):
        raise ObsError("%s must be a string, got %r" % (what, obs_path))
    text = obs_path.replace("\\", "/")
    for head in _HEADS:
        if text.startswith(head):
            rest = text[len(head):]
            break
    else:
        raise ObsError("Illegal obs head format %s, correct format is %s" % (obs_path, OBS_HEAD_FORMAT))
    bucket, _, key = rest.partition("/")
    if not bucket.strip():
        raise ObsError("Illegal bucket path format %s, correct format is obs://bucket_name/file.txt" % obs_path)
    if any(p in ("..", ".") for p in key.split("/")):
        raise ObsError("%s %s must not contain '.' or '..' parts" % (what, obs_path))
    return bucket, key


def _dir_key(obs_dir, what):
    if not obs_dir.replace("\\", "/").endswith("/"):
        raise ObsError("Illegal obs dir format %s, correct format is obs://bucket_name/dir1/dir2/" % obs_dir)
    return _split(obs_dir, what)


class OBSManagement(object):
    """``session.obs``: the official SDK's OBS methods (``upload_file``, ``upload_dir``,
    ``download_file``, ``download_dir``, ``is_obs_file``, ``is_obs_path_exists``)."""

    def __init__(self, client):
        self.client = client

    def is_obs_file(self, obs_file):
        """Whether ``obs://bucket/dir/file`` is an object."""
        if obs_file.replace("\\", "/").endswith("/"):
            raise ObsError("Illegal obs file format %s, correct format is obs://bucket_name/dir1/file.txt" % obs_file)
        bucket, key = _split(obs_file, "obs_file")
        return self.client.head_object(bucket, key)

    def is_obs_path_exists(self, obs_path):
        """Whether ``obs_path`` names an object, or a folder holding at least one object."""
        bucket, key = _split(obs_path, "obs_path")
        try:
            if key and not key.endswith("/") and self.client.head_object(bucket, key):
                return True
            prefix = key if (not key or key.endswith("/")) else key + "/"
            return bool(self.client.list_keys(bucket, prefix))
        except ObsError as err:
            if err.code == "NoSuchBucket":
                return False
            raise

    def upload_file(self, src_local_file, dst_obs_dir):
        """Uploads a local file into the folder ``dst_obs_dir`` (``obs://bucket/dir/``)."""
        bucket, prefix = _dir_key(dst_obs_dir, "dst_obs_dir")
        if not os.path.isfile(src_local_file):
            raise ObsError("The local file %s is not exist" % src_local_file)
        self.client.put_file(bucket, prefix + os.path.basename(src_local_file), src_local_file)

    def upload_dir(self, src_local_dir, dst_obs_dir):
        """Uploads the folder ``src_local_dir`` itself into ``dst_obs_dir``: its files land in
        ``dst_obs_dir/<folder name>/...``."""
        bucket, prefix = _dir_key(dst_obs_dir, "dst_obs_dir")
        if not os.path.isdir(src_local_dir):
            raise ObsError("The local dir %s is not exist" % src_local_dir)
        top = prefix + os.path.basename(os.path.normpath(src_local_dir)) + "/"
        for root, _, files in os.walk(src_local_dir):
            rel = os.path.relpath(root, src_local_dir).replace(os.sep, "/")
            for name in sorted(files):
                key = top + ("" if rel == "." else rel + "/") + name
                self.client.put_file(bucket, key, os.path.join(root, name))

    def download_file(self, src_obs_file, dst_local_dir):
        """Downloads ``obs://bucket/dir/file`` into the local folder ``dst_local_dir`` (created if
        missing) as ``dst_local_dir/file``."""
        if src_obs_file.replace("\\", "/").endswith("/"):
            raise ObsError("Illegal obs file format %s, correct format is obs://bucket_name/dir1/file.txt"
                           % src_obs_file)
        bucket, key = _split(src_obs_file, "src_obs_file")
        os.makedirs(dst_local_dir, exist_ok=True)
        self.client.get_file(bucket, key, os.path.join(dst_local_dir, key.rsplit("/", 1)[-1]))

    def download_dir(self, src_obs_dir, dst_local_dir):
        """Downloads the folder ``obs://bucket/dir/`` as ``dst_local_dir/dir/...`` (a whole bucket,
        ``obs://bucket/``, into ``dst_local_dir`` itself)."""
        bucket, prefix = _dir_key(src_obs_dir, "src_obs_dir")
        name = prefix.rstrip("/").rsplit("/", 1)[-1] if prefix else ""
        target = os.path.join(dst_local_dir, name) if name else dst_local_dir
        os.makedirs(target, exist_ok=True)
        for key in self.client.list_keys(bucket, prefix):
            if key.endswith("/"):
                continue
            rel = key[len(prefix):]
            parts = rel.split("/")
            if any(p in ("", ".", "..") for p in parts):
                raise ObsError("object key %r cannot be a local path" % key)
            local = os.path.join(target, *parts)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self.client.get_file(bucket, key, local)
