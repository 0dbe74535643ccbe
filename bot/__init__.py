"""dis-bot: a Slack chat-ops bot for Huawei Cloud DIS dump tasks.

`bot.__version__` is the installed distribution's version, read lazily (as hynek/stamina does) so that importing
the package costs no metadata lookup.
"""

from __future__ import annotations

DISTRIBUTION = "dis-bot"


def version() -> str:
    """The installed version of dis-bot ("unknown" when run from a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
