"""AK/SK request signing, ``SDK-HMAC-SHA256`` (the Huawei Cloud / API Gateway SDK scheme).

CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
SignedHeaders \\n hex(sha256(body)); StringToSign = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n
hex(sha256(CanonicalRequest)); Signature = hex(hmac_sha256(SK, StringToSign)).
"""

import datetime
import hashlib
import hmac
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _encode(s):
    return quote(s, safe="~")


def canonical_uri(path):
    uri = "/".join(_encode(unquote(seg)) for seg in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs):
    """``pairs``: list of (name, value) strings, not encoded."""
    items = sorted((str(k), str(v)) for k, v in pairs)
    return "&".join("%s=%s" % (_encode(k), _encode(v)) for k, v in items)


def sign(method, path, query_pairs, headers, body, ak, sk, now=None):
    """Adds ``X-Sdk-Date`` and ``Authorization`` to ``headers`` (a dict, modified) and
    returns it. ``headers`` must already hold ``Host``; every header is signed."""
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    headers["X-Sdk-Date"] = now.strftime(DATE_FORMAT)
    lowered = {k.lower(): str(v).strip() for k, v in headers.items() if "_" not in k}
    names = sorted(lowered)
    body_hash = hashlib.sha256(body or b"").hexdigest()
    canonical = "\n".join([
        method.upper(),
        canonical_uri(path),
        canonical_query(query_pairs),
        "".join("%s:%s\n" % (n, lowered[n]) for n in names),
        ";".join(names),
        body_hash,
    ])
    to_sign = "\n".join([ALGORITHM, headers["X-Sdk-Date"], hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = "%s Access=%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, ak, ";".join(names), signature)
    return headers
