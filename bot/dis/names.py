"""DIS naming rule, checked before any request so that a typo never reaches the API.

The console (and CreateStream) allow 1-64 letters, digits, `_` and `-`; some API tables say 60,
but real names reach 64, so 64 it is.
"""

from __future__ import annotations

import re

from bot.errors import InvalidName

NAME_RULE = "1-64 characters: letters, digits, '_' and '-'"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_valid_name(value: str) -> bool:
    """True if `value` follows the naming rule (for guesses such as "did you mean tasks X?")."""
    return bool(_NAME.fullmatch(value))


def validate_name(value: str, what: str = "stream") -> str:
    """Return `value` if it is a valid DIS stream/task name, else raise `InvalidName` saying why."""
    if not isinstance(value, str) or not value:
        raise InvalidName(f"A {what} name is required ({NAME_RULE}).")
    if len(value) > 64:
        raise InvalidName(f"The {what} name is {len(value)} characters long; DIS allows {NAME_RULE}.")
    if not _NAME.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "…"
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "_-"))})
        chars = " ".join(repr(c) for c in bad[:5])
        raise InvalidName(f"'{shown}' is not a valid {what} name: {chars} not allowed. DIS allows {NAME_RULE}.")
    return value
