"""All configuration, read once from the environment (and `.env`) by pydantic-settings.

Nothing else in the bot reads `os.environ`: `Settings` is built in the CLI and passed down.
The variable names are a contract (README "Settings"); each field's alias is its variable name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")

# The Slack settings' messages, shared with the app factory that checks them again for programmatic callers.
MISSING_BOT_TOKEN = "SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)"
MISSING_APP_TOKEN = "SLACK_APP_TOKEN is not set (the app-level token, xapp-...)"
MISSING_SIGNING_SECRET = (
    "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests from Slack "
    "(or set SLACK_APP_TOKEN, xapp-..., to use Socket Mode: no signing secret, no public URL)"
)


class AuthMode(StrEnum):
    TOKEN = "token"
    AKSK = "aksk"
    IAM_PASSWORD = "iam-password"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """The bot's settings. Build with `Settings()` (environment) or `Settings(DIS_REGION=...)` in tests."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # `DIS_AUTH_TOKEN=` left blank in a .env template means "not set", not a second auth mode.
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=False,
        case_sensitive=True,
    )

    # --- DIS ---
    dis_region: str | None = Field(None, validation_alias=_env("DIS_REGION"))
    dis_project_id: str | None = Field(None, validation_alias=_env("DIS_PROJECT_ID"))
    dis_endpoint: str | None = Field(None, validation_alias=_env("DIS_ENDPOINT"))
    dis_auth_token: SecretStr | None = Field(None, validation_alias=_env("DIS_AUTH_TOKEN"))
    cloud_sdk_ak: SecretStr | None = Field(None, validation_alias=_env("CLOUD_SDK_AK"))
    cloud_sdk_sk: SecretStr | None = Field(None, validation_alias=_env("CLOUD_SDK_SK"))
    cloud_sdk_security_token: SecretStr | None = Field(None, validation_alias=_env("CLOUD_SDK_SECURITY_TOKEN"))
    iam_username: str | None = Field(None, validation_alias=_env("IAM_USERNAME"))
    iam_password: SecretStr | None = Field(None, validation_alias=_env("IAM_PASSWORD"))
    iam_domain_name: str | None = Field(None, validation_alias=_env("IAM_DOMAIN_NAME"))
    iam_endpoint: str | None = Field(None, validation_alias=_env("IAM_ENDPOINT"))
    dis_timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("DIS_TIMEOUT_SECONDS"))
    cache_ttl_seconds: float = Field(15.0, ge=0, validation_alias=_env("CACHE_TTL_SECONDS"))

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    port: int = Field(3000, ge=0, le=65535, validation_alias=_env("PORT"))
    dis_actions_enabled: bool = Field(False, validation_alias=_env("DIS_ACTIONS_ENABLED"))
    dis_admin_user_ids: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), validation_alias=_env("DIS_ADMIN_USER_IDS")
    )

    # --- Watcher ---
    dis_watch: str = Field("", validation_alias=_env("DIS_WATCH"))
    watch_interval_seconds: float = Field(60.0, gt=0, validation_alias=_env("WATCH_INTERVAL_SECONDS"))
    watch_concurrency: int = Field(10, ge=1, validation_alias=_env("WATCH_CONCURRENCY"))
    watch_repeat_minutes: float = Field(60.0, ge=0, validation_alias=_env("WATCH_REPEAT_MINUTES"))
    # A RUNNING task with records waiting and no transfer for this long is stalled; 0 turns the check off.
    watch_stall_minutes: float = Field(30.0, ge=0, allow_inf_nan=False, validation_alias=_env("WATCH_STALL_MINUTES"))
    watch_failures_before_warning: int = Field(5, ge=1, validation_alias=_env("WATCH_FAILURES_BEFORE_WARNING"))
    #: Every watched task's partitions are read once per this many seconds (spread out); 0 = only suspects.
    watch_deep_interval_seconds: float = Field(
        900.0, ge=0, allow_inf_nan=False, validation_alias=_env("WATCH_DEEP_INTERVAL_SECONDS")
    )
    database_url: str = Field("sqlite:///dis-bot.db", validation_alias=_env("DATABASE_URL"))

    # --- Operations ---
    ready_max_age_seconds: float = Field(300.0, gt=0, validation_alias=_env("READY_MAX_AGE_SECONDS"))
    log_format: str = Field("text", pattern="^(text|json)$", validation_alias=_env("LOG_FORMAT"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))

    @field_validator("dis_admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("dis_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        # It becomes a host name (dis.{region}.myhuaweicloud.com): refuse what could only fail later as DNS noise.
        if value is not None and not _REGION.fullmatch(value.strip()):
            raise ValueError("must be a region ID such as cn-north-4 (lower-case letters, digits and '-')")
        return value.strip() if value is not None else None

    @field_validator("dis_endpoint", "iam_endpoint")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip()
        try:
            parts = urlsplit(value)
            scheme, host = parts.scheme, parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            scheme, host = "", None
        if scheme not in ("http", "https") or not host or any(c.isspace() for c in value):
            service = "iam" if info.field_name == "iam_endpoint" else "dis"
            raise ValueError(
                f"must be an http:// or https:// URL with a host, e.g. https://{service}.cn-north-4.myhuaweicloud.com"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    # --- derived values ---

    @property
    def endpoint(self) -> str:
        """DIS base URL without a trailing slash."""
        if self.dis_endpoint:
            return self.dis_endpoint.rstrip("/")
        return f"https://dis.{self.dis_region}.myhuaweicloud.com"

    @property
    def iam_url(self) -> str:
        if self.iam_endpoint:
            return self.iam_endpoint.rstrip("/")
        return f"https://iam.{self.dis_region}.myhuaweicloud.com"

    @property
    def auth_mode(self) -> AuthMode:
        """The authentication mode chosen by which variables are set (call `require_dis()` first)."""
        if self.dis_auth_token is not None:
            return AuthMode.TOKEN
        if self.cloud_sdk_ak is not None:
            return AuthMode.AKSK
        return AuthMode.IAM_PASSWORD

    def require_dis(self) -> Settings:
        """Check that DIS can be called: region, project and exactly one complete auth mode.

        Raises:
            ConfigError: naming every variable that is missing or contradicts another.
        """
        return self._require(self.dis_problems())

    def require_bot(self, *, socket_mode: bool | None = None) -> Settings:
        """Check everything `dis-bot serve` needs: DIS (`require_dis`) and Slack (`slack_problems`), at once.

        Raises:
            ConfigError: listing every problem, so one look at the message fixes them all.
        """
        return self._require(self.bot_problems(socket_mode=socket_mode))

    def _require(self, problems: list[str]) -> Settings:
        if problems:
            raise ConfigError(_message(problems))
        return self

    def slack_problems(self, *, socket_mode: bool | None = None) -> list[str]:
        """What is missing to talk to Slack: the bot token, and the app token (Socket Mode) or the signing
        secret (HTTP mode). The mode is Socket Mode exactly when SLACK_APP_TOKEN is set, unless forced."""
        socket = self.slack_app_token is not None if socket_mode is None else socket_mode
        problems = []
        if self.slack_bot_token is None:
            problems.append(MISSING_BOT_TOKEN)
        if socket and self.slack_app_token is None:
            problems.append(MISSING_APP_TOKEN)
        if not socket and self.slack_signing_secret is None:
            problems.append(MISSING_SIGNING_SECRET)
        return problems

    def dis_problems(self) -> list[str]:
        """What is missing or contradictory for calling DIS (empty when `require_dis()` passes)."""
        problems: list[str] = []
        if not self.dis_region:
            problems.append("DIS_REGION is not set (e.g. cn-north-4)")
        if not self.dis_project_id:
            problems.append("DIS_PROJECT_ID is not set (the region's project ID)")
        modes = {
            AuthMode.TOKEN: ["DIS_AUTH_TOKEN"] if self.dis_auth_token is not None else [],
            AuthMode.AKSK: [
                n
                for n, v in (
                    ("CLOUD_SDK_AK", self.cloud_sdk_ak),
                    ("CLOUD_SDK_SK", self.cloud_sdk_sk),
                    ("CLOUD_SDK_SECURITY_TOKEN", self.cloud_sdk_security_token),
                )
                if v is not None
            ],
            AuthMode.IAM_PASSWORD: [
                n
                for n, v in (
                    ("IAM_USERNAME", self.iam_username),
                    ("IAM_PASSWORD", self.iam_password),
                    ("IAM_DOMAIN_NAME", self.iam_domain_name),
                )
                if v
            ],
        }
        chosen = [mode for mode, names in modes.items() if names]
        if not chosen:
            problems.append(
                "no DIS credentials: set DIS_AUTH_TOKEN, or CLOUD_SDK_AK and CLOUD_SDK_SK, "
                "or IAM_USERNAME, IAM_PASSWORD and IAM_DOMAIN_NAME"
            )
        elif len(chosen) > 1:
            names = ", ".join(n for mode in chosen for n in modes[mode])
            problems.append(f"more than one DIS authentication mode is set ({names}): keep exactly one")
        else:
            mode = chosen[0]
            required = {
                AuthMode.AKSK: ("CLOUD_SDK_AK", "CLOUD_SDK_SK"),
                AuthMode.IAM_PASSWORD: ("IAM_USERNAME", "IAM_PASSWORD", "IAM_DOMAIN_NAME"),
            }.get(mode, ())
            missing = [n for n in required if n not in modes[mode]]
            if missing:
                problems.append(f"{' and '.join(missing)} must be set together with {', '.join(modes[mode])}")
        return problems

    def bot_problems(self, *, socket_mode: bool | None = None) -> list[str]:
        """Everything `require_bot` checks: DIS first, then Slack."""
        return self.dis_problems() + self.slack_problems(socket_mode=socket_mode)


#: What a command needs of the settings, as the list of what is wrong (`Settings.dis_problems`, `bot_problems`).
Check = Callable[[Settings], list[str]]


def load_settings(check: Check | None = None, **overrides: Any) -> Settings:
    """Build `Settings` from the environment (and `.env`) and check them for what the command needs.

    Every problem is reported at once, in one `ConfigError`: each malformed value with its variable and, with
    `check`, everything missing or contradictory, so whoever fixes the settings sees the whole list on the first
    try rather than one item per attempt.
    """
    invalid: dict[str, str] = {}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "settings"
            invalid.setdefault(name, f"{name} is invalid: {err['msg'].removeprefix('Value error, ')}")
        try:
            # Check the rest as if the malformed variables were unset, to report what else is wrong too.
            settings = Settings(**{**overrides, **_defaults(invalid)})
        except ValidationError:
            raise ConfigError(_message(list(invalid.values()))) from None
    problems = list(invalid.values())
    if check is not None:
        # A malformed variable is reported once, as malformed, not a second time as "not set".
        shadowed = tuple(f"{name} is not set" for name in invalid)
        problems += [p for p in check(settings) if not p.startswith(shadowed)]
    if problems:
        raise ConfigError(_message(problems))
    return settings


def _defaults(names: dict[str, str]) -> dict[str, Any]:
    """The default of each variable in `names` (by variable name), to stand in for its malformed value."""
    defaults: dict[str, Any] = {}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        for choice in alias.choices if isinstance(alias, AliasChoices) else ():
            if choice in names:
                defaults[str(choice)] = field.default
    return defaults


def _message(problems: list[str]) -> str:
    return problems[0] if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(problems)
