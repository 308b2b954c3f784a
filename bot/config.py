"""Settings: the one place that reads the environment (env vars and .env)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///planbot.db"
_PROCESS_KEY: dict[str, bytes] = {}
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "xxx", "<secret>", "todo"}


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """planbot's configuration. Bot Framework names (MicrosoftAppId, ...) are accepted."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    app_id: str = Field("", validation_alias=_alias("MicrosoftAppId", "MICROSOFT_APP_ID",
                                                     "PLANBOT_APP_ID", "app_id"))
    app_password: str = Field("", repr=False, validation_alias=_alias(
        "MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD", "PLANBOT_APP_PASSWORD", "app_password"))
    app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = Field(
        "MultiTenant",
        validation_alias=_alias("MicrosoftAppType", "MICROSOFT_APP_TYPE", "app_type"))
    app_tenant_id: str = Field("", validation_alias=_alias(
        "MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID", "app_tenant_id"))
    database_url: str = Field(DEFAULT_DATABASE_URL,
                              validation_alias=_alias("DATABASE_URL", "database_url"))
    host: str = Field("127.0.0.1", validation_alias=_alias("PLANBOT_HOST", "host"))
    port: int = Field(3978, ge=1, le=65535, validation_alias=_alias("PLANBOT_PORT", "port"))
    local: bool = Field(False, validation_alias=_alias("PLANBOT_LOCAL", "local"))
    timezone: str = Field("Europe/London", validation_alias=_alias("PLANBOT_TIMEZONE", "timezone"))
    log_level: str = Field("INFO", validation_alias=_alias("PLANBOT_LOG_LEVEL", "log_level"))
    admins: str = Field("", validation_alias=_alias("PLANBOT_ADMINS", "admins"))
    developer_name: str = Field("", validation_alias=_alias("PLANBOT_DEVELOPER_NAME",
                                                             "developer_name"))
    developer_url: str = Field("", validation_alias=_alias("PLANBOT_DEVELOPER_URL",
                                                            "developer_url"))
    privacy_url: str = Field("", validation_alias=_alias("PLANBOT_PRIVACY_URL", "privacy_url"))
    terms_url: str = Field("", validation_alias=_alias("PLANBOT_TERMS_URL", "terms_url"))
    public_url: str = Field("", validation_alias=_alias("PLANBOT_PUBLIC_URL", "public_url"))
    export_key: str = Field("", repr=False, validation_alias=_alias("PLANBOT_EXPORT_KEY",
                                                                    "export_key"))
    send_rate: float = Field(45.0, gt=0, le=50, validation_alias=_alias(
        "PLANBOT_SEND_RATE", "send_rate"))  # proactive sends per second (Teams: 50 per tenant)
    send_concurrency: int = Field(16, ge=1, le=256, validation_alias=_alias(
        "PLANBOT_SEND_CONCURRENCY", "send_concurrency"))
    send_lease_seconds: float = Field(60.0, ge=1, le=3600, validation_alias=_alias(
        "PLANBOT_SEND_LEASE_SECONDS", "send_lease_seconds"))  # a dead sender's rows wait this long

    graph_readback: bool = Field(False, validation_alias=_alias(
        "PLANBOT_GRAPH_READBACK", "graph_readback"))  # look before sending a card again
    graph_url: str = Field("https://graph.microsoft.com/v1.0", validation_alias=_alias(
        "PLANBOT_GRAPH_URL", "graph_url"))
    graph_token_url: str = Field(
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        validation_alias=_alias("PLANBOT_GRAPH_TOKEN_URL", "graph_token_url"))
    teams_app_id: str = Field("", validation_alias=_alias(
        "PLANBOT_TEAMS_APP_ID", "teams_app_id"))  # the manifest's id; default: the bot's app id
    readers: Literal["tenant", "plan"] = Field("tenant", validation_alias=_alias(
        "PLANBOT_READERS", "readers"))  # who may ask, export and subscribe to digests
    reader_ids: str = Field("", validation_alias=_alias(
        "PLANBOT_READER_IDS", "reader_ids"))  # with readers=plan: more people (emails, AAD ids)
    signing_keys_timeout: float = Field(5.0, gt=0, le=60, validation_alias=_alias(
        "PLANBOT_SIGNING_KEYS_TIMEOUT", "signing_keys_timeout"))  # seconds per fetch
    signing_keys_retry: float = Field(30.0, ge=0, le=3600, validation_alias=_alias(
        "PLANBOT_SIGNING_KEYS_RETRY", "signing_keys_retry"))  # after a failed fetch

    def sender_options(self) -> dict[str, object]:
        """Keyword arguments for bot.sender.Sender from the settings."""
        from datetime import timedelta
        return {"rate_per_second": self.send_rate, "concurrency": self.send_concurrency,
                "lease": timedelta(seconds=self.send_lease_seconds)}

    @property
    def base_url(self) -> str:
        """Where users' browsers reach the bot (download links): PLANBOT_PUBLIC_URL, or
        http://host:port for a local run."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def download_key(self) -> bytes:
        """The key that signs download links: PLANBOT_EXPORT_KEY, else derived from the app
        password (the same on every replica), else a random key for this process only."""
        import hashlib
        import secrets
        if self.export_key:
            return self.export_key.encode()
        if self.app_password:
            return hashlib.sha256(b"planbot-exports\n" + self.app_password.encode()).digest()
        return _PROCESS_KEY.setdefault("key", secrets.token_bytes(32))

    @property
    def admin_ids(self) -> frozenset[str]:
        """Plan admins: emails or AAD object ids, compared in lower case."""
        return frozenset(part.strip().lower() for part in self.admins.split(",") if part.strip())

    @property
    def plan_readers(self) -> frozenset[str] | None:
        """None when everyone in the tenant may read the plans (PLANBOT_READERS=tenant); else
        the people named in PLANBOT_READER_IDS (emails or AAD object ids, lower case), who may
        read every plan besides its leads, their delegates and the admins."""
        if self.readers == "tenant":
            return None
        return frozenset(part.strip().lower() for part in self.reader_ids.split(",")
                         if part.strip())

    @model_validator(mode="after")
    def _secrets_are_real(self) -> Settings:
        if self.reader_ids.strip() and self.readers == "tenant":
            raise ValueError("PLANBOT_READER_IDS has no effect while PLANBOT_READERS=tenant "
                             "(everyone in the tenant may read); set PLANBOT_READERS=plan")
        if self.app_id and self.app_type != "UserAssignedMSI":
            if self.app_password.strip().lower() in _PLACEHOLDERS:
                raise ValueError("MicrosoftAppPassword is missing or a placeholder; set the real "
                                 "client secret of the bot's app registration")
        if self.app_id and self.app_type == "SingleTenant" and not self.app_tenant_id:
            raise ValueError("MicrosoftAppType=SingleTenant needs MicrosoftAppTenantId")
        if self.graph_readback and self.app_id and self.app_type == "UserAssignedMSI":
            raise ValueError("PLANBOT_GRAPH_READBACK needs the app's client secret "
                             "(MicrosoftAppPassword); a managed identity is not supported")
        if self.graph_readback and not self.app_id and not self.local:
            raise ValueError("PLANBOT_GRAPH_READBACK needs MicrosoftAppId and "
                             "MicrosoftAppPassword (Graph signs in as the bot's app)")
        return self

    @property
    def local_mode(self) -> bool:
        """Anonymous traffic from this machine only: `planbot demo`, `serve --local`,
        PLANBOT_LOCAL=true."""
        return self.local

    @property
    def refuses_traffic(self) -> bool:
        """No MicrosoftAppId and not local mode: nothing can be authenticated, so refuse all."""
        return not self.app_id and not self.local

    def botframework_config(self) -> object:
        """The attribute object botbuilder's ConfigurationBotFrameworkAuthentication reads."""
        settings = self

        class _Config:
            APP_ID = settings.app_id
            APP_PASSWORD = settings.app_password
            APP_TYPE = settings.app_type
            APP_TENANTID = settings.app_tenant_id
            PORT = settings.port

        return _Config()
