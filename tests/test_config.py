"""Settings: names, defaults, auth-mode choice, and one clear message for what is missing or contradictory."""

from __future__ import annotations

import pytest

from bot.config import AuthMode, Settings, load_settings
from bot.errors import ConfigError

BASE = {"DIS_REGION": "cn-north-4", "DIS_PROJECT_ID": "0123456789abcdef0123456789abcdef"}


def make(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def test_defaults() -> None:
    """Unset variables take the documented defaults."""
    s = make(**BASE, DIS_AUTH_TOKEN="t")
    assert s.endpoint == "https://dis.cn-north-4.myhuaweicloud.com"
    assert s.iam_url == "https://iam.cn-north-4.myhuaweicloud.com"
    assert s.dis_timeout_seconds == 10
    assert s.cache_ttl_seconds == 15
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.port == 3000
    assert s.database_url == "sqlite:///dis-bot.db"
    assert s.watch_interval_seconds == 60
    assert s.dis_actions_enabled is False
    assert s.dis_admin_user_ids == frozenset()


def test_reads_environment_by_exact_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables are read from the environment under the documented names."""
    for k, v in {**BASE, "CLOUD_SDK_AK": "ak", "CLOUD_SDK_SK": "sk", "DIS_ENDPOINT": "http://127.0.0.1:9/"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DIS_ADMIN_USER_IDS", "U1, U2,,U3")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.require_dis().auth_mode is AuthMode.AKSK
    assert s.endpoint == "http://127.0.0.1:9"
    assert s.dis_admin_user_ids == {"U1", "U2", "U3"}


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"DIS_AUTH_TOKEN": "t"}, AuthMode.TOKEN),
        ({"CLOUD_SDK_AK": "a", "CLOUD_SDK_SK": "s", "CLOUD_SDK_SECURITY_TOKEN": "x"}, AuthMode.AKSK),
        ({"IAM_USERNAME": "u", "IAM_PASSWORD": "p", "IAM_DOMAIN_NAME": "d"}, AuthMode.IAM_PASSWORD),
    ],
)
def test_auth_mode_chosen_by_variables(env: dict[str, str], mode: AuthMode) -> None:
    """The auth mode follows from which variables are set."""
    assert make(**BASE, **env).require_dis().auth_mode is mode


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, ["DIS_REGION", "DIS_PROJECT_ID", "DIS_AUTH_TOKEN"]),
        ({**BASE}, ["DIS_AUTH_TOKEN", "CLOUD_SDK_AK", "IAM_USERNAME"]),
        ({**BASE, "DIS_AUTH_TOKEN": "t", "CLOUD_SDK_AK": "a", "CLOUD_SDK_SK": "s"}, ["DIS_AUTH_TOKEN", "CLOUD_SDK_AK"]),
        ({**BASE, "CLOUD_SDK_AK": "a"}, ["CLOUD_SDK_SK"]),
        ({**BASE, "IAM_USERNAME": "u", "IAM_PASSWORD": "p"}, ["IAM_DOMAIN_NAME"]),
    ],
)
def test_missing_or_contradictory_settings_name_the_variables(env: dict[str, str], names: list[str]) -> None:
    """One ConfigError whose message names every variable involved."""
    with pytest.raises(ConfigError) as info:
        make(**env).require_dis()
    for name in names:
        assert name in str(info.value)


def test_invalid_values_become_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed value is reported with its variable name, not a pydantic traceback."""
    monkeypatch.setenv("DIS_TIMEOUT_SECONDS", "soon")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "DIS_TIMEOUT_SECONDS" in str(info.value)
    assert "LOG_FORMAT" in str(info.value)


def test_secret_values_are_not_in_repr() -> None:
    """Secrets are SecretStr: printing the settings never shows them."""
    s = make(**BASE, DIS_AUTH_TOKEN="tok-very-secret", IAM_PASSWORD="pw-very-secret", SLACK_BOT_TOKEN="xoxb-secret")
    text = repr(s) + str(s) + str(s.model_dump())
    for secret in ("tok-very-secret", "pw-very-secret", "xoxb-secret"):
        assert secret not in text


def test_dotenv_file_in_the_working_directory_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """`.env` in the current directory supplies settings (quotes, comments, `export`); the environment wins."""
    (tmp_path / ".env").write_text(
        "# dis-bot settings\n"
        "DIS_REGION=cn-north-4\n"
        "export DIS_PROJECT_ID=0123456789abcdef0123456789abcdef\n"
        'CLOUD_SDK_AK="AK FROM DOTENV"\n'
        "CLOUD_SDK_SK='sk-from-dotenv'\n"
        "CACHE_TTL_SECONDS=3\n"
        "UNRELATED_TOOL_SETTING=1\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    s = load_settings().require_dis()
    assert s.auth_mode is AuthMode.AKSK
    assert s.dis_project_id == BASE["DIS_PROJECT_ID"]
    assert s.cloud_sdk_ak is not None and s.cloud_sdk_ak.get_secret_value() == "AK FROM DOTENV"
    assert s.cloud_sdk_sk is not None and s.cloud_sdk_sk.get_secret_value() == "sk-from-dotenv"
    assert s.cache_ttl_seconds == 3
    monkeypatch.setenv("DIS_REGION", "eu-west-0")
    assert load_settings().dis_region == "eu-west-0"


def test_dotenv_mistakes_are_config_errors(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A bad value in `.env` is reported like one in the environment: the variable is named."""
    (tmp_path / ".env").write_text("DIS_TIMEOUT_SECONDS=soon\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "DIS_TIMEOUT_SECONDS" in str(info.value)


def test_blank_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """`DIS_AUTH_TOKEN=` left blank (environment or `.env`) is not a second auth mode, and blanks take defaults."""
    (tmp_path / ".env").write_text("IAM_USERNAME=\nDIS_TIMEOUT_SECONDS=\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for k, v in {**BASE, "DIS_AUTH_TOKEN": "", "CLOUD_SDK_AK": "ak", "CLOUD_SDK_SK": "sk", "DIS_ENDPOINT": ""}.items():
        monkeypatch.setenv(k, v)
    s = load_settings().require_dis()
    assert s.auth_mode is AuthMode.AKSK
    assert s.endpoint == "https://dis.cn-north-4.myhuaweicloud.com"
    assert s.dis_timeout_seconds == 10


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIS_ENDPOINT", "dis.cn-north-4.myhuaweicloud.com"),
        ("DIS_ENDPOINT", "ftp://dis.example.com"),
        ("DIS_ENDPOINT", "http://[::1"),
        ("DIS_ENDPOINT", "http://bad host"),
        ("IAM_ENDPOINT", "https://"),
        ("DIS_REGION", "CN North 4"),
    ],
)
def test_malformed_endpoint_or_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A URL or region that could only fail later as a network error is refused up front, naming the variable."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert name in str(info.value) and "Value error" not in str(info.value)
    assert ("https://iam." if name == "IAM_ENDPOINT" else "cn-north-4") in str(info.value)


def test_endpoints_keep_ports_and_ipv6() -> None:
    """Valid endpoints (simulator ports, IPv6 literals) pass unchanged, without a trailing slash."""
    s = make(**BASE, DIS_AUTH_TOKEN="t", DIS_ENDPOINT="http://[::1]:8787/", IAM_ENDPOINT=" https://iam.example:8443 ")
    assert s.endpoint == "http://[::1]:8787"
    assert s.iam_url == "https://iam.example:8443"


@pytest.mark.parametrize(("value", "minutes"), [(None, 30.0), ("0.5", 0.5), ("0", 0.0), ("90", 90.0)])
def test_stall_minutes_default_fractions_and_off(value: str | None, minutes: float) -> None:
    """WATCH_STALL_MINUTES is 30 by default, takes fractions, and 0 (off)."""
    env = {"WATCH_STALL_MINUTES": value} if value is not None else {}
    assert make(**BASE, **env).watch_stall_minutes == minutes


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_stall_minutes_must_be_a_finite_non_negative_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A negative, non-numeric or infinite WATCH_STALL_MINUTES is a ConfigError naming the variable."""
    monkeypatch.setenv("WATCH_STALL_MINUTES", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "WATCH_STALL_MINUTES" in str(info.value)


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_deep_interval_must_be_a_finite_non_negative_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """WATCH_DEEP_INTERVAL_SECONDS=inf is refused at start, naming the variable (accepted, it made every deep read
    crash with "cannot convert float NaN to integer", which silently turned stall detection off)."""
    monkeypatch.setenv("WATCH_DEEP_INTERVAL_SECONDS", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "WATCH_DEEP_INTERVAL_SECONDS" in str(info.value)
