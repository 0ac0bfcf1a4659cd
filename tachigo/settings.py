"""One settings object for every process, read from ``TACHIGO_`` environment variables.

Nested groups use ``__``: ``TACHIGO_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092``.
Every variable is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tachigo.auth.settings import AccountsSettings


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:19092"
    heartbeats_topic: str = "heartbeats"
    stream_events_topic: str = "stream-events"
    credits_topic: str = "credits"
    dead_letters_topic: str = "dead-letters"
    heartbeat_partitions: int = Field(default=12, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1)
    send_timeout_s: float = Field(default=10.0, gt=0)
    request_timeout_s: float = Field(default=10.0, gt=0)
    linger_ms: int = Field(default=5, ge=0, le=1000)
    app_id: str = "tachigo"


class PostgresSettings(BaseModel):
    dsn: SecretStr = SecretStr("postgresql://tachigo@127.0.0.1:55432/tachigo")
    pool_size_min: int = Field(default=2, ge=1)
    pool_size_max: int = Field(default=10, ge=1)
    command_timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)


class WatchSettings(BaseModel):
    """The watch rules of DESIGN section 4; every duration is in seconds."""

    min_gap_s: int = Field(default=20, ge=1)
    max_credit_s: int = Field(default=30, ge=1)
    session_gap_s: int = Field(default=120, ge=1)
    bucket_s: int = Field(default=300, ge=10)
    grace_s: int = Field(default=60, ge=0)
    tick_interval_s: float = Field(default=5.0, gt=0)
    excluded_user_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def check_relations(self) -> WatchSettings:
        if self.max_credit_s < self.min_gap_s:
            raise ValueError("watch.max_credit_s must be >= watch.min_gap_s")
        if self.session_gap_s < self.max_credit_s:
            raise ValueError("watch.session_gap_s must be >= watch.max_credit_s")
        return self


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    processes: int = Field(default=1, ge=1, le=64)
    body_bytes_max: int = Field(default=16 * 1024, ge=256)
    request_timeout_s: float = Field(default=30.0, gt=0)
    channel_cache_s: float = Field(default=5.0, ge=0)
    # A deactivated account stops earning within this long; heartbeats come every 30 s
    # per viewer, so a shorter cache would miss on nearly every request.
    user_cache_s: float = Field(default=60.0, ge=0)
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://localhost:5173"]
    )


class AuthSettings(BaseModel):
    access_secret: SecretStr = SecretStr("dev-access-secret-change-me-0123456789abcdef")
    access_ttl_s: int = Field(default=900, ge=60)
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=3600)
    # Twitch hands out the extension secret base64-encoded; we decode it before use.
    extension_secret_b64: SecretStr = SecretStr(
        "ZGV2LWV4dGVuc2lvbi1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="
    )
    extension_leeway_s: int = Field(default=30, ge=0, le=300)
    eventsub_secret: SecretStr = SecretStr("dev-eventsub-secret-0123456789")
    eventsub_window_s: int = Field(default=600, ge=1)


class LedgerSettings(BaseModel):
    batch_rows_max: int = Field(default=2000, ge=1, le=10_000)
    batch_wait_s: float = Field(default=0.2, gt=0)
    retries_max: int = Field(default=5, ge=1)


class DevSettings(BaseModel):
    """Where ``tachigo dev up`` keeps its private Kafka and PostgreSQL."""

    data_dir: Path = Path(".tachigo")
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    postgres_port: int = 55432


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TACHIGO_", env_nested_delimiter="__", extra="ignore"
    )

    env: str = "development"
    log_level: str = "INFO"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    dev: DevSettings = Field(default_factory=DevSettings)
    accounts: AccountsSettings = Field(default_factory=AccountsSettings)

    @model_validator(mode="after")
    def check_production_secrets(self) -> Settings:
        if self.env == "production":
            defaults = AuthSettings()
            for name in ("access_secret", "extension_secret_b64", "eventsub_secret"):
                value = getattr(self.auth, name).get_secret_value()
                if value == getattr(defaults, name).get_secret_value():
                    raise ValueError(
                        f"TACHIGO_AUTH__{name.upper()} still has its development "
                        "default; set a real secret before running in production"
                    )
        return self
