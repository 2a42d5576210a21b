"""``Session``: authentication and the HTTP client of every SDK call.

Authentication modes (ModelArts SDK):

* AK/SK: ``Session(access_key=..., secret_key=..., project_id=..., region_name=...)`` signs
  every request (``SDK-HMAC-SHA256``, ``X-Sdk-Date``).
* IAM user: ``Session(account=..., username=..., password=..., region_name=..., project_id=...)``
  and account: ``Session(username=..., password=..., region_name=...)`` get a project-scoped
  token from ``POST {iam_endpoint}/v3/auth/tokens`` (renewed before its 24 h run out).
* Token: ``Session(token=..., project_id=...)``.
* ``Session()``: credentials from the environment (``MODELARTS_ACCESS_KEY`` +
  ``MODELARTS_SECRET_KEY``, or ``MODELARTS_TOKEN``, else trainyard's ``TRAINYARD_TOKEN``; with
  ``MODELARTS_PROJECT_ID``, else ``TRAINYARD_PROJECT``), as in a notebook; else the profile that
  ``trainyard login`` saved (``$TRAINYARD_PROFILE``, default ``default``, in
  ``$TRAINYARD_PROFILE_FILE``, else ``$XDG_CONFIG_HOME/trainyard/profiles.toml``): its server,
  project and token or access key. Without any, only local training works.

A session with credentials but no project is refused at once (``ValueError`` naming where a
project comes from), not at its first request.

``raise_on_failure`` (argument, else ``$MODELARTS_RAISE_ON_FAILURE=1``): ``fit(wait=True)`` and
``job.wait()`` raise ``modelarts.exception.TrainingJobFailed`` (a ``ModelArtsError``) with the
status, the failing worker and the last lines of its log when a run does not complete. Off by
default: as in the official SDK, a failed run then returns normally.

OBS: ``session.obs`` (``upload_file``, ``upload_dir``, ``download_file``, ``download_dir``,
``is_obs_file``, ``is_obs_path_exists``) and ``session.upload_data``/``download_data`` talk S3 to
``Session(obs_endpoint=...)``, ``set_endpoint(obs_endpoint=...)``, ``$MODELARTS_OBS_ENDPOINT``, else
the ModelArts endpoint (trainyard serves its OBS/S3 endpoint on the same port); AK/SK sessions only.

Endpoint: ``Session(..., endpoint=...)``, else ``Session.set_endpoint(modelarts_endpoint=...)``,
else ``$MODELARTS_ENDPOINT``, else ``$TRAINYARD_SERVER`` (the variable the ``trainyard`` CLI
reads), else ``http://127.0.0.1:8600``. The IAM endpoint: ``iam_endpoint``
argument, ``set_endpoint(iam_endpoint=...)``, ``$MODELARTS_IAM_ENDPOINT``, else the ModelArts one.
"""

import datetime
import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request

from modelarts import signer
from modelarts.exception import ModelArtsError
from modelarts.obs import OBSManagement, S3Client

DEFAULT_ENDPOINT = "http://127.0.0.1:8600"


def _env(name):
    value = os.environ.get(name, "").strip()
    return value or None


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _parse_profiles(text):
    """The tables of the CLI's profile file (TOML): ``tomllib`` where Python has it, else the
    subset ``trainyard login`` writes (``[name]`` tables of ``key = "string"`` lines)."""
    try:
        import tomllib
        return tomllib.loads(text)
    except ImportError:
        pass
    tables, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
                name = name[1:-1]
            current = tables.setdefault(name, {})
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            if value.startswith('"'):
                value = json.loads(value)
            elif value.startswith("'"):
                value = value[1:-1]
            current[key] = value
    return tables


def cli_profile():
    """The profile ``trainyard login`` saved: ``$TRAINYARD_PROFILE`` (default ``default``) of
    ``$TRAINYARD_PROFILE_FILE``, else ``$XDG_CONFIG_HOME/trainyard/profiles.toml`` (else
    ``~/.config/...``); ``None`` when there is none."""
    path = _env("TRAINYARD_PROFILE_FILE")
    if not path:
        base = _env("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        path = os.path.join(base, "trainyard", "profiles.toml")
    try:
        with open(path, encoding="utf-8") as f:
            tables = _parse_profiles(f.read())
    except (OSError, ValueError):
        return None
    profile = tables.get(_env("TRAINYARD_PROFILE") or "default")
    if not isinstance(profile, dict):
        return None

    def read(key, file_key):
        if profile.get(key):
            return profile[key]
        if profile.get(file_key):
            try:
                with open(profile[file_key], encoding="utf-8") as f:
                    return f.read().strip() or None
            except OSError:
                return None
        return None

    return {"server": profile.get("server"), "project": profile.get("project"),
            "token": read("token", "token_file"), "access_key": profile.get("access_key"),
            "secret_key": read("secret_key", "secret_key_file")}


def _obs_dir(bucket_path):
    """``/bucket/dir`` -> ``obs://bucket/dir/``."""
    text = bucket_path if bucket_path.startswith(("obs://", "s3://")) else "obs://" + bucket_path.lstrip("/")
    return text if text.endswith("/") else text + "/"


def sdk_dict(body):
    """A REST body as the SDK returns it: ``error_message`` is called ``error_msg``."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    if "error_message" in out:
        out["error_msg"] = out.pop("error_message")
    return out


class Session(object):
    """Credentials, project and endpoints; creates no state on the server."""

    _endpoints = {}

    @classmethod
    def set_endpoint(cls, iam_endpoint=None, obs_endpoint=None, modelarts_endpoint=None, region_name=None):
        """Endpoints for sessions created afterwards."""
        for key, value in (("iam", iam_endpoint), ("obs", obs_endpoint), ("modelarts", modelarts_endpoint),
                           ("region", region_name)):
            if value:
                cls._endpoints[key] = value

    def __init__(self, account=None, username=None, password=None, access_key=None, secret_key=None,
                 project_id=None, region_name=None, token=None, endpoint=None, iam_endpoint=None, timeout=60,
                 obs_endpoint=None, raise_on_failure=None):
        if raise_on_failure is None:
            raise_on_failure = _truthy(_env("MODELARTS_RAISE_ON_FAILURE") or "")
        #: Whether ``fit(wait=True)`` and ``job.wait()`` raise ``TrainingJobFailed``.
        self.raise_on_failure = bool(raise_on_failure)
        explicit_endpoint = (endpoint or self._endpoints.get("modelarts") or _env("MODELARTS_ENDPOINT")
                             or _env("TRAINYARD_SERVER"))
        profile = None
        if not (access_key or secret_key or username or password or token or _env("MODELARTS_TOKEN")
                or _env("TRAINYARD_TOKEN") or (_env("MODELARTS_ACCESS_KEY") and _env("MODELARTS_SECRET_KEY"))):
            profile = cli_profile()
        self.endpoint = (explicit_endpoint or (profile or {}).get("server") or DEFAULT_ENDPOINT).rstrip("/")
        self.iam_endpoint = (iam_endpoint or self._endpoints.get("iam") or _env("MODELARTS_IAM_ENDPOINT")
                             or self.endpoint).rstrip("/")
        self.obs_endpoint = (obs_endpoint or self._endpoints.get("obs") or _env("MODELARTS_OBS_ENDPOINT")
                             or self.endpoint).rstrip("/")
        self._obs = None
        self.region_name = region_name or self._endpoints.get("region") or _env("MODELARTS_REGION_NAME")
        self.timeout = timeout
        self.account = account
        self.username = username
        self._password = password
        self.access_key = access_key
        self._secret_key = secret_key
        self._token = token
        self._token_expires = None
        self.project_id = project_id
        if access_key or secret_key:
            if not (access_key and secret_key and project_id):
                raise ValueError("AK/SK mode needs access_key, secret_key and project_id")
            self.auth_mode = "aksk"
        elif username or password:
            if not (username and password):
                raise ValueError("password mode needs username and password")
            if not (project_id or self.region_name):
                raise ValueError("password mode needs project_id or region_name")
            self.auth_mode = "password"
            self._login()
        elif token:
            if not project_id:
                raise ValueError("token mode needs project_id")
            self.auth_mode = "token"
        elif _env("MODELARTS_ACCESS_KEY") and _env("MODELARTS_SECRET_KEY"):
            self.access_key, self._secret_key = _env("MODELARTS_ACCESS_KEY"), _env("MODELARTS_SECRET_KEY")
            self.project_id = project_id or _env("MODELARTS_PROJECT_ID") or _env("TRAINYARD_PROJECT")
            self.auth_mode = "aksk"
        elif _env("MODELARTS_TOKEN") or _env("TRAINYARD_TOKEN"):
            self._token = _env("MODELARTS_TOKEN") or _env("TRAINYARD_TOKEN")
            self.project_id = project_id or _env("MODELARTS_PROJECT_ID") or _env("TRAINYARD_PROJECT")
            self.auth_mode = "token"
        elif profile and profile.get("access_key") and profile.get("secret_key"):
            self.access_key, self._secret_key = profile["access_key"], profile["secret_key"]
            self.project_id = (project_id or _env("MODELARTS_PROJECT_ID") or _env("TRAINYARD_PROJECT")
                               or profile.get("project"))
            self.auth_mode = "aksk"
        elif profile and profile.get("token"):
            self._token = profile["token"]
            self.project_id = (project_id or _env("MODELARTS_PROJECT_ID") or _env("TRAINYARD_PROJECT")
                               or profile.get("project"))
            self.auth_mode = "token"
        else:
            self.auth_mode = None
        if self.auth_mode in ("aksk", "token") and not self.project_id:
            raise ValueError("this Session has credentials but no project: pass project_id=..., or set "
                             "MODELARTS_PROJECT_ID (or TRAINYARD_PROJECT)")

    def __repr__(self):
        return "Session(endpoint=%r, project_id=%r, auth_mode=%r)" % (self.endpoint, self.project_id, self.auth_mode)

    # -- OBS -----------------------------------------------------------------------------

    @property
    def obs(self):
        """``OBSManagement`` over the OBS/S3 endpoint, signed with this session's AK/SK."""
        if self._obs is None:
            if self.auth_mode != "aksk":
                raise ValueError("session.obs needs an AK/SK session (access_key, secret_key)")
            client = S3Client(self.obs_endpoint, self.access_key, self._secret_key, self.region_name,
                              self.timeout)
            self._obs = OBSManagement(client)
        return self._obs

    def upload_data(self, bucket_path, path):
        """The official ``Session.upload_data``: a local file, a list of files, or a folder's
        contents to ``bucket_path`` (``/bucket/dir/``; ``obs://`` optional)."""
        dst = _obs_dir(bucket_path)
        if isinstance(path, (list, tuple)):
            for p in path:
                self.obs.upload_file(p, dst)
        elif os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                full = os.path.join(path, entry)
                if os.path.isdir(full):
                    self.obs.upload_dir(full, dst)
                else:
                    self.obs.upload_file(full, dst)
        elif os.path.isfile(path):
            self.obs.upload_file(path, dst)
        else:
            raise Exception("Path " + str(path) + " does not exist!")

    def download_data(self, bucket_path, path, subfiles_mode=False):
        """The official ``Session.download_data``: ``/bucket/dir/`` into the folder ``path``
        (as ``path/dir/...``, or its files straight into ``path`` with ``subfiles_mode``), or
        ``/bucket/dir/file`` to the file ``path``."""
        src = "obs://" + bucket_path.lstrip("/") if not bucket_path.startswith(("obs://", "s3://")) else bucket_path
        if src.endswith("/"):
            if not self.obs.is_obs_path_exists(src):
                raise Exception("OBS bucket path does not exist, please check it! ")
            if subfiles_mode:
                tmp = path.rstrip("/") + "/.download-%d" % os.getpid()
                self.obs.download_dir(src, tmp)
                inner = os.path.join(tmp, os.listdir(tmp)[0]) if os.listdir(tmp) else tmp
                for entry in os.listdir(inner):
                    os.replace(os.path.join(inner, entry), os.path.join(path, entry))
                shutil.rmtree(tmp)
            else:
                self.obs.download_dir(src, path)
        else:
            directory, name = os.path.split(os.path.abspath(path))
            self.obs.download_file(src, directory)
            fetched = os.path.join(directory, src.rsplit("/", 1)[-1])
            if fetched != os.path.join(directory, name):
                os.replace(fetched, os.path.join(directory, name))

    # -- authentication ------------------------------------------------------------------

    def _login(self):
        scope = {"id": self.project_id} if self.project_id else {"name": self.region_name}
        user = {"name": self.username, "password": self._password}
        domain = self.account or self.username
        user["domain"] = {"name": domain}
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                         "scope": {"project": scope}}}
        status, headers, payload = self._send("POST", self.iam_endpoint + "/v3/auth/tokens", {
            "Content-Type": "application/json"}, json.dumps(body).encode())
        if status != 201:
            body = payload if isinstance(payload, dict) else {}
            raise ModelArtsError(body.get("error_code", "IAM.%d" % status),
                                 body.get("error_message", "token request refused"), status)
        self._token = headers.get("X-Subject-Token")
        token = payload["token"]
        self.project_id = token["project"]["id"]
        try:
            self._token_expires = datetime.datetime.strptime(token["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")
        except (KeyError, ValueError):
            self._token_expires = None

    def _token_header(self):
        if self.auth_mode == "password" and self._token_expires is not None:
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            if now + datetime.timedelta(minutes=5) >= self._token_expires:
                self._login()
        return self._token

    # -- HTTP ----------------------------------------------------------------------------

    def _send(self, method, url, headers, body):
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, resp_headers, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, resp_headers, raw = err.code, err.headers, err.read()
        except (urllib.error.URLError, socket.timeout) as err:
            raise ConnectionError("cannot reach %s: %s" % (url, err))
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            payload = {"is_success": False, "error_code": "ModelArts.0010",
                       "error_message": "non-JSON answer (HTTP %d)" % status}
        return status, resp_headers, payload

    def request(self, method, path, query=None, body=None, raw=None, content_type="application/json"):
        """Calls ``/v1/{project_id}{path}`` and returns ``(http_status, body dict)``. ``body`` is
        sent as JSON; ``raw`` bytes are sent as they are, with ``content_type``."""
        if not self.auth_mode:
            raise ValueError("this Session has no credentials (see modelarts.session docs)")
        if not self.project_id:
            raise ValueError("this Session has no project_id")
        full_path = "/v1/%s%s" % (self.project_id, path)
        pairs = [(k, "true" if v is True else "false" if v is False else str(v))
                 for k, v in (query or {}).items() if v is not None and v != ""]
        url = self.endpoint + urllib.parse.quote(full_path)
        if pairs:
            url += "?" + signer.canonical_query(pairs)
        data = raw if raw is not None else json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": content_type}
        if self.auth_mode == "aksk":
            headers["Host"] = urllib.parse.urlsplit(self.endpoint).netloc
            headers["X-Project-Id"] = self.project_id
            signer.sign(method, urllib.parse.quote(full_path), pairs, headers, data, self.access_key,
                        self._secret_key)
        else:
            headers["X-Auth-Token"] = self._token_header()
        status, _, payload = self._send(method, url, headers, data)
        return status, payload

    def call(self, method, path, query=None, body=None):
        """Like :meth:`request`, returning the SDK's dict (``error_msg``)."""
        return sdk_dict(self.request(method, path, query, body)[1])

    def sort_param(self):
        """The SDK sends ``sortBy`` with AK/SK and ``sort_by`` with account authentication."""
        return "sortBy" if self.auth_mode == "aksk" else "sort_by"
