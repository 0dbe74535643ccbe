"""Huawei Cloud "SDK-HMAC-SHA256" request signing (API-gateway style), as the official SDKs do it.

Pure functions, no I/O: `sign()` takes what will be sent and returns the headers to add.
The algorithm (reference §5.2; Huawei's `apig-sdk` and `huaweicloudsdkcore/signer/signer.py`):

    CanonicalRequest = METHOD, CanonicalURI, CanonicalQuery, CanonicalHeaders, SignedHeaders, hex(sha256(body))
                       joined by newlines
    StringToSign     = "SDK-HMAC-SHA256", X-Sdk-Date, hex(sha256(CanonicalRequest)) joined by newlines
    Signature        = hex(HMAC-SHA256(SK, StringToSign))        # no key derivation, unlike AWS SigV4

Every header passed in is signed (plus `Host` and `X-Sdk-Date`, added when missing), so the caller
decides what is covered by passing exactly the headers it sends and wants signed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _encode(value: str) -> str:
    """Percent-encode everything except the RFC 3986 unreserved set `A-Za-z0-9-_.~`."""
    return quote(value, safe="~")


def canonical_uri(path: str) -> str:
    """Each path segment encoded, always ending with `/` (the URL sent need not)."""
    # Like the SDK: decode first, so a path httpx already percent-encoded is not encoded twice.
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: str) -> str:
    """`enc(k)=enc(v)` pairs sorted by key then value, joined by `&` (`k=` when there is no value)."""
    pairs = sorted((_encode(k), _encode(v)) for k, v in parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """The canonical request and its SignedHeaders list, for headers that already include Host and date."""
    parts = urlsplit(url)
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    signed_headers = ";".join(names)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    text = "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path or "/"),
            canonical_query(parts.query),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return text, signed_headers


def host_of(url: str) -> str:
    """The Host header value for `url`: host, plus the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return host


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    ak: str,
    sk: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign one request; return the headers to add to it (`X-Sdk-Date`, `Host` when missing, `Authorization`).

    Args:
        method: HTTP method.
        url: the full URL exactly as it will be sent (path already percent-encoded is fine).
        headers: every header to sign, with the values that will be sent (e.g. Content-Type,
            X-Security-Token). Host and X-Sdk-Date are taken from here when present.
        body: the exact body bytes that will be sent (`b""` for none).
        ak, sk: access key and secret key.
        now: signing time (UTC); defaults to the current time.
    """
    present = {name.lower(): name for name in headers}
    to_sign = dict(headers)
    added: dict[str, str] = {}
    if "x-sdk-date" not in present:
        when = now if now is not None else datetime.now(UTC)
        added[DATE_HEADER] = when.astimezone(UTC).strftime(DATE_FORMAT)
    if "host" not in present:
        added["Host"] = host_of(url)
    to_sign.update(added)
    date = to_sign[present.get("x-sdk-date", DATE_HEADER)]

    text, signed_headers = canonical_request(method, url, to_sign, body)
    string_to_sign = f"{ALGORITHM}\n{date}\n{hashlib.sha256(text.encode()).hexdigest()}"
    signature = hmac.new(sk.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = f"{ALGORITHM} Access={ak}, SignedHeaders={signed_headers}, Signature={signature}"
    return added
