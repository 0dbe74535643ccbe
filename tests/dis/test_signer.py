"""The SDK-HMAC-SHA256 signer against Huawei's published test vector and its canonicalisation rules."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from bot.dis.signer import canonical_query, canonical_request, canonical_uri, host_of, sign

# Huawei's documented example (API signing guide; reference §5.2).
VECTOR_URL = (
    "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
    "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
)
VECTOR_HEADERS = {
    "Host": "service.region.example.com",
    "Content-Type": "application/json",
    "X-Sdk-Date": "20191115T033655Z",
}
VECTOR_AK = "QTWAOYTTINDUT2QVKYUC"
VECTOR_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
VECTOR_HASH = "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
VECTOR_AUTH = (
    "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, "
    "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
)


def test_vector_hashed_canonical_request() -> None:
    """The canonical request of Huawei's example hashes to the published value."""
    text, signed = canonical_request("GET", VECTOR_URL, VECTOR_HEADERS, b"")
    assert hashlib.sha256(text.encode()).hexdigest() == VECTOR_HASH
    assert signed == "content-type;host;x-sdk-date"


def test_vector_authorization_header() -> None:
    """Signing Huawei's example yields exactly the published Authorization header."""
    added = sign("GET", VECTOR_URL, VECTOR_HEADERS, b"", VECTOR_AK, VECTOR_SK)
    assert added == {"Authorization": VECTOR_AUTH}


def test_vector_with_host_and_date_added_by_signer() -> None:
    """Host and X-Sdk-Date are derived from the URL and `now` when the caller leaves them out."""
    now = datetime(2019, 11, 15, 3, 36, 55, tzinfo=UTC)
    added = sign("GET", VECTOR_URL, {"Content-Type": "application/json"}, b"", VECTOR_AK, VECTOR_SK, now=now)
    assert added == {
        "X-Sdk-Date": "20191115T033655Z",
        "Host": "service.region.example.com",
        "Authorization": VECTOR_AUTH,
    }


def test_header_names_are_case_insensitive_and_values_trimmed() -> None:
    """Header name case and surrounding blanks do not change the signature."""
    headers = {
        "host": "service.region.example.com",
        "CONTENT-TYPE": " application/json ",
        "x-sdk-date": "20191115T033655Z",
    }
    assert sign("GET", VECTOR_URL, headers, b"", VECTOR_AK, VECTOR_SK)["Authorization"] == VECTOR_AUTH


def test_query_order_does_not_matter() -> None:
    """Query parameters are sorted before signing."""
    swapped = VECTOR_URL.split("?")[0] + "?marker=13551d6b-755d-4757-b956-536f674975c0&limit=2"
    assert sign("GET", swapped, VECTOR_HEADERS, b"", VECTOR_AK, VECTOR_SK)["Authorization"] == VECTOR_AUTH


def test_body_and_method_change_the_signature() -> None:
    """The body hash and method are covered: a different body or method gives a different signature."""
    base = sign("POST", VECTOR_URL, VECTOR_HEADERS, b'{"a":1}', VECTOR_AK, VECTOR_SK)["Authorization"]
    assert base != sign("POST", VECTOR_URL, VECTOR_HEADERS, b'{"a":2}', VECTOR_AK, VECTOR_SK)["Authorization"]
    assert base != sign("PUT", VECTOR_URL, VECTOR_HEADERS, b'{"a":1}', VECTOR_AK, VECTOR_SK)["Authorization"]


def test_security_token_is_signed() -> None:
    """An X-Security-Token header joins SignedHeaders in sorted order."""
    headers = {**VECTOR_HEADERS, "X-Security-Token": "temp-token"}
    auth = sign("GET", VECTOR_URL, headers, b"", VECTOR_AK, VECTOR_SK)["Authorization"]
    assert "SignedHeaders=content-type;host;x-sdk-date;x-security-token," in auth


def test_canonical_uri_encodes_segments_and_ends_with_slash() -> None:
    """Each segment is percent-encoded once (already-encoded input is not double-encoded); '/' is appended."""
    assert canonical_uri("/v2/p/streams") == "/v2/p/streams/"
    assert canonical_uri("/v2/p/streams/") == "/v2/p/streams/"
    assert canonical_uri("/v2/p/streams/a%20b") == "/v2/p/streams/a%20b/"
    assert canonical_uri("/v2/p/streams/a b~c") == "/v2/p/streams/a%20b~c/"
    assert canonical_uri("/") == "/"


def test_canonical_query_rules() -> None:
    """Query pairs are encoded, sorted by key then value, and valueless keys keep their '='."""
    assert canonical_query("") == ""
    assert canonical_query("b=2&a=x y&a=1&c") == "a=1&a=x%20y&b=2&c="


def test_host_of_keeps_only_non_default_ports() -> None:
    """Host carries the port only when it is not the scheme's default."""
    assert host_of("https://dis.cn-north-4.myhuaweicloud.com/v2") == "dis.cn-north-4.myhuaweicloud.com"
    assert host_of("https://dis.example.com:443/v2") == "dis.example.com"
    assert host_of("http://127.0.0.1:8080/v2") == "127.0.0.1:8080"
