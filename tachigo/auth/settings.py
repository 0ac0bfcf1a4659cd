"""Settings for sign-in, accounts and mail: one group, ``Settings.accounts``.

Environment variables nest under ``TACHIGO_ACCOUNTS__``, for example
``TACHIGO_ACCOUNTS__OAUTH__GOOGLE__CLIENT_ID`` or ``TACHIGO_ACCOUNTS__SIWE__DOMAIN``.
Every variable is listed in ``docs/auth.md``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


class OAuthProviderSettings(BaseModel):
    """One OAuth 2.0 code-flow provider. Empty ``client_id`` turns the provider off."""

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    authorize_url: str = ""
    token_url: str = ""
    # Twitch: the Helix users endpoint, read with the access token.
    userinfo_url: str = ""
    # OIDC: when set, the token response's id_token is verified against this JWKS.
    jwks_url: str = ""
    issuers: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)
    # Our callback URL exactly as registered with the provider.
    redirect_uri: str = ""
    use_pkce: bool = False

    @property
    def is_enabled(self) -> bool:
        return bool(self.client_id)

    @property
    def is_oidc(self) -> bool:
        return bool(self.jwks_url)

    @model_validator(mode="after")
    def check_complete(self) -> OAuthProviderSettings:
        if not self.client_id:
            return self
        if not self.client_secret.get_secret_value() or not self.redirect_uri:
            raise ValueError(
                "an OAuth provider with client_id also needs client_secret "
                "and redirect_uri"
            )
        if not self.authorize_url or not self.token_url:
            raise ValueError("an OAuth provider needs authorize_url and token_url")
        if self.jwks_url and not self.issuers:
            raise ValueError(
                "an OIDC provider (jwks_url set) needs at least one issuer"
            )
        if not self.jwks_url and not self.userinfo_url:
            raise ValueError("an OAuth provider needs jwks_url (OIDC) or userinfo_url")
        return self


class TwitchOAuthSettings(OAuthProviderSettings):
    authorize_url: str = "https://id.twitch.tv/oauth2/authorize"
    token_url: str = "https://id.twitch.tv/oauth2/token"
    userinfo_url: str = "https://api.twitch.tv/helix/users"
    scopes: list[str] = Field(default_factory=lambda: ["user:read:email"])


class GoogleOAuthSettings(OAuthProviderSettings):
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    issuers: list[str] = Field(
        default_factory=lambda: ["https://accounts.google.com", "accounts.google.com"]
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    use_pkce: bool = True


class OAuthSettings(BaseModel):
    twitch: TwitchOAuthSettings = Field(default_factory=TwitchOAuthSettings)
    google: GoogleOAuthSettings = Field(default_factory=GoogleOAuthSettings)
    # The Go service keeps the state cookie 300 s; a consent screen rarely takes longer.
    state_ttl_s: int = Field(default=300, ge=30, le=3600)
    http_timeout_s: float = Field(default=10.0, gt=0, le=60)
    response_bytes_max: int = Field(default=256 * 1024, ge=4096)
    jwks_cache_s: int = Field(default=3600, ge=60)
    # An unknown ``kid`` refetches the JWKS at most this often (rotation, not abuse).
    jwks_refetch_min_s: int = Field(default=60, ge=1)
    id_token_leeway_s: int = Field(default=30, ge=0, le=300)


class SiweSettings(BaseModel):
    """EIP-4361 relying-party expectations; the wallet page must live on ``domain``."""

    domain: str = "localhost:5173"
    scheme: str = "http"
    uri: str = "http://localhost:5173"
    chain_ids: list[int] = Field(default_factory=lambda: [31337])
    statement: str = "Sign in to Tachigo"
    nonce_ttl_s: int = Field(default=300, ge=30, le=3600)
    issued_at_age_max_s: int = Field(default=300, ge=30, le=3600)
    clock_skew_s: int = Field(default=30, ge=0, le=300)
    message_bytes_max: int = Field(default=4096, ge=512, le=16_384)

    @field_validator("chain_ids")
    @classmethod
    def check_chain_ids(cls, value: list[int]) -> list[int]:
        if not value or any(c < 1 for c in value):
            raise ValueError(
                "siwe.chain_ids needs at least one positive EIP-155 chain id"
            )
        return value


class MailSettings(BaseModel):
    """Where mails go: ``outbox`` writes JSON files (development, tests); ``smtp``
    sends them."""

    backend: Literal["outbox", "smtp"] = "outbox"
    outbox_dir: Path = Path(".tachigo/outbox")
    sender: str = "Tachigo <no-reply@localhost>"
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    send_timeout_s: float = Field(default=15.0, gt=0, le=120)
    queue_max: int = Field(default=1000, ge=1)
    shutdown_grace_s: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def check_backend(self) -> MailSettings:
        if self.backend == "smtp" and not self.smtp_host:
            raise ValueError("mail.backend=smtp needs mail.smtp_host")
        if self.smtp_username and self.smtp_security == "none":
            raise ValueError(
                "mail.smtp_username needs smtp_security tls or starttls; "
                "the password must not cross the network in clear"
            )
        return self


class RateLimitSettings(BaseModel):
    """Fixed-window limits per client IP and route; one counter per API process."""

    window_s: int = Field(default=60, ge=1, le=3600)
    auth_requests_max: int = Field(default=60, ge=1)
    # Every viewer's extension logs in on page load; many share carrier NAT addresses.
    extension_requests_max: int = Field(default=600, ge=1)
    keys_max: int = Field(default=100_000, ge=100)
    # Peers whose X-Forwarded-For is believed (CIDRs); empty: the socket peer is the
    # client.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def check_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class PasswordSettings(BaseModel):
    """argon2id cost; the defaults are RFC 9106's second recommendation (64 MiB)."""

    time_cost: int = Field(default=3, ge=1, le=20)
    memory_kib: int = Field(default=65_536, ge=8, le=1_048_576)
    parallelism: int = Field(default=4, ge=1, le=16)
    length_min: int = Field(default=8, ge=8, le=64)
    # argon2 has no 72-byte cut like bcrypt, but unbounded input costs CPU.
    length_max: int = Field(default=128, ge=16, le=1024)


class CookieSettings(BaseModel):
    """Attributes of the ``refresh_token`` and OAuth cookies. ``secure=None``: on in
    production only."""

    secure: bool | None = None
    same_site: Literal["Lax", "Strict", "None"] = "Lax"
    domain: str | None = None


class AccountsSettings(BaseModel):
    frontend_url: str = "http://localhost:5173"
    verify_email_ttl_s: int = Field(default=24 * 3600, ge=300)
    reset_password_ttl_s: int = Field(default=3600, ge=300)
    # A refresh token presented again this soon after its rotation is a parallel tab,
    # not a thief: answer 401 without revoking the family.
    refresh_reuse_grace_s: int = Field(default=10, ge=0, le=120)
    addresses_max: int = Field(default=20, ge=1, le=1000)
    page_size_max: int = Field(default=200, ge=10, le=5000)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    siwe: SiweSettings = Field(default_factory=SiweSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    password: PasswordSettings = Field(default_factory=PasswordSettings)
    cookie: CookieSettings = Field(default_factory=CookieSettings)

    @model_validator(mode="after")
    def check_cookie(self) -> AccountsSettings:
        if self.cookie.same_site == "None" and self.cookie.secure is False:
            raise ValueError(
                "cookie.same_site=None needs cookie.secure (browsers drop it)"
            )
        return self
