"""Server-side check of API-gateway `SDK-HMAC-SHA256` signatures (reference §5.2).

Written independently of the client's signer on purpose: the simulator recomputes the canonical
request from what actually arrived on the wire, so a client bug shows up as a 401 instead of two
copies of the same mistake agreeing with each other.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: The gateway refuses an `X-Sdk-Date` more than this many seconds away from its clock.
MAX_SKEW_SECONDS = 15 * 60

_AUTH = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+)\s*,\s*SignedHeaders=(?P<headers>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_uri(raw_path: str) -> str:
    """The path decoded, split on `/`, each segment percent-encoded, always ending in `/`.

    Decoding comes before splitting, as in Huawei's SDK signer (`unquote(path).split("/")`): an encoded
    `%2F` inside a segment is signed as a separator, and `%2D` and `-` agree.
    """
    segments = [_enc(s) for s in unquote(raw_path).split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: str) -> str:
    """`enc(k)=enc(v)` pairs sorted by key then value; a key without a value becomes `k=`."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((_enc(unquote(key)), _enc(unquote(value))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    body_hash: str,
) -> str:
    """The six-line canonical request. `headers` must be keyed by lower-case name."""
    names = sorted(h.lower() for h in signed_headers)
    lines = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
    return "\n".join(
        [method.upper(), canonical_uri(raw_path), canonical_query(raw_query), lines, ";".join(names), body_hash]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(secret_key: str, to_sign: str) -> str:
    """hex(HMAC-SHA256(SK, StringToSign)); no key derivation, unlike AWS SigV4."""
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`; None if it is not that shape."""
    match = _AUTH.match(value.strip())
    if not match:
        return None
    headers = tuple(h for h in match["headers"].lower().split(";") if h)
    return ParsedAuthorization(match["ak"], headers, match["sig"].lower())


class SignatureMismatch(Exception):
    """The request is not signed correctly; the message says why (for the simulator's own logs only)."""


def verify(
    *,
    secret_key: str,
    auth: ParsedAuthorization,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> None:
    """Raise `SignatureMismatch` unless `auth` is a valid signature of this request at time `now`.

    Args:
        headers: the received headers keyed by lower-case name.
    """
    signed = set(auth.signed_headers)
    if not {"host", "x-sdk-date"} <= signed:
        raise SignatureMismatch("host and x-sdk-date must be signed")
    missing = [h for h in auth.signed_headers if h not in headers]
    if missing:
        raise SignatureMismatch(f"signed headers not present: {missing}")
    sdk_date = headers["x-sdk-date"].strip()
    try:
        when = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise SignatureMismatch("malformed X-Sdk-Date") from None
    if abs(now - when) > MAX_SKEW_SECONDS:
        raise SignatureMismatch("X-Sdk-Date more than 15 minutes off")
    if headers.get("x-sdk-content-sha256", "").strip() == UNSIGNED_PAYLOAD:
        body_hash = UNSIGNED_PAYLOAD
    else:
        body_hash = hashlib.sha256(body).hexdigest()
    canonical = canonical_request(method, raw_path, raw_query, headers, auth.signed_headers, body_hash)
    expected = signature(secret_key, string_to_sign(canonical, sdk_date))
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureMismatch("signature differs")
