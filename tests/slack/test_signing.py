"""Our request signer matches Slack's published example and slack_sdk's verifier."""

from __future__ import annotations

from slack_sdk.signature import SignatureVerifier

from tests.slack_signing import sign, signed_headers

# Slack's example from "Verifying requests from Slack" (also pinned in python-slack-sdk's own tests).
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class _FixedClock:
    def now(self) -> float:
        return float(SLACK_TIMESTAMP)


def test_signer_matches_slacks_published_example():
    """sign() reproduces the signature in Slack's documentation byte for byte."""
    assert sign(SLACK_SECRET, SLACK_TIMESTAMP, SLACK_BODY) == SLACK_SIGNATURE
    assert sign(SLACK_SECRET, str(SLACK_TIMESTAMP), SLACK_BODY.encode()) == SLACK_SIGNATURE


def test_slack_sdk_verifier_accepts_our_headers():
    """slack_sdk's SignatureVerifier (what Bolt uses) accepts what signed_headers() produces."""
    headers = signed_headers(SLACK_SECRET, SLACK_BODY, timestamp=SLACK_TIMESTAMP)
    verifier = SignatureVerifier(SLACK_SECRET, clock=_FixedClock())
    assert verifier.is_valid(SLACK_BODY, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not verifier.is_valid(
        SLACK_BODY + "&x=1", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
