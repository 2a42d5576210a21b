"""Points the ModelArts CLI (``modelarts-macli``) at trainyard instead of Huawei Cloud's console.

macli has no setting for its server: every URL it builds starts with the constant
``https://console.huaweicloud.com``, and its HTTP sessions ignore proxy and CA-bundle environment
variables (``trust_env = False``). Python imports this file at start-up when its directory is on
``PYTHONPATH``; with ``MACLI_CONSOLE_URL`` set (trainyard's base URL, e.g.
``https://127.0.0.1:8443``) it rewrites that prefix in every request made with ``requests``, and
with ``MACLI_CA_BUNDLE`` set (e.g. trainyard's ``DATA_DIR/tls/cert.pem``) it verifies the server's
certificate with that file. macli itself runs unchanged. See docs/api-v2-clients.md.
"""

import os

_TARGET = os.environ.get("MACLI_CONSOLE_URL", "").rstrip("/")
_CONSOLE = "https://console.huaweicloud.com"

if _TARGET:
    import requests

    _CA = os.environ.get("MACLI_CA_BUNDLE") or None
    _request = requests.Session.request

    def _to_trainyard(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(_CONSOLE):
            url = _TARGET + url[len(_CONSOLE):]
        if _CA and url.startswith(_TARGET) and kwargs.get("verify") is None:
            kwargs["verify"] = _CA
        return _request(self, method, url, *args, **kwargs)

    requests.Session.request = _to_trainyard
