"""Settings of sign-in: defaults, environment nesting and cross-field rules."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import SecretStr

from tachigo.auth.mail import link, reset_mail, verification_mail
from tachigo.auth.settings import (
    AccountsSettings,
    CookieSettings,
    MailSettings,
    OAuthProviderSettings,
    RateLimitSettings,
)
from tachigo.settings import Settings


def test_defaults_are_development_safe() -> None:
    accounts = AccountsSettings()

    assert accounts.oauth.twitch.is_enabled is False
    assert accounts.oauth.google.is_oidc is True
    assert accounts.siwe.nonce_ttl_s == 300
    assert accounts.mail.backend == "outbox"
    assert accounts.rate_limit.auth_requests_max == 60
    assert accounts.rate_limit.trusted_proxies == []


def test_environment_variables_nest_under_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TACHIGO_ACCOUNTS__SIWE__DOMAIN", "app.example")
    monkeypatch.setenv("TACHIGO_ACCOUNTS__OAUTH__GOOGLE__CLIENT_ID", "gid")
    monkeypatch.setenv("TACHIGO_ACCOUNTS__OAUTH__GOOGLE__CLIENT_SECRET", "gsecret")
    monkeypatch.setenv("TACHIGO_ACCOUNTS__OAUTH__GOOGLE__REDIRECT_URI", "https://a/cb")
    monkeypatch.setenv(
        "TACHIGO_ACCOUNTS__RATE_LIMIT__TRUSTED_PROXIES", '["10.0.0.0/8"]'
    )

    settings = Settings()

    assert settings.accounts.siwe.domain == "app.example"
    assert settings.accounts.oauth.google.is_enabled
    assert settings.accounts.oauth.google.client_secret.get_secret_value() == "gsecret"
    assert "gsecret" not in repr(settings)


@pytest.mark.parametrize(
    "build",
    [
        lambda: OAuthProviderSettings(
            client_id="x",
            authorize_url="a",
            token_url="t",
            userinfo_url="u",
            redirect_uri="r",
        ),
        lambda: OAuthProviderSettings(
            client_id="x",
            client_secret=SecretStr("s"),
            authorize_url="a",
            token_url="t",
            userinfo_url="u",
        ),
        lambda: OAuthProviderSettings(
            client_id="x",
            client_secret=SecretStr("s"),
            redirect_uri="r",
            authorize_url="a",
            token_url="t",
            jwks_url="j",
        ),
        lambda: OAuthProviderSettings(
            client_id="x",
            client_secret=SecretStr("s"),
            redirect_uri="r",
            authorize_url="a",
            token_url="t",
        ),
        lambda: OAuthProviderSettings(
            client_id="x",
            client_secret=SecretStr("s"),
            redirect_uri="r",
            userinfo_url="u",
        ),
        lambda: MailSettings(backend="smtp"),
        lambda: MailSettings(
            backend="smtp", smtp_host="h", smtp_security="none", smtp_username="u"
        ),
        lambda: RateLimitSettings(trusted_proxies=["not-a-network"]),
        lambda: AccountsSettings(cookie=CookieSettings(same_site="None", secure=False)),
    ],
)
def test_inconsistent_settings_fail_at_start_up(build: object) -> None:
    with pytest.raises((pydantic.ValidationError, ValueError)):
        build()  # type: ignore[operator]


def test_mail_links_encode_the_token() -> None:
    assert link("https://app.test/", "/verify-email", "a+b/c") == (
        "https://app.test/verify-email?token=a%2Bb%2Fc"
    )
    mail = verification_mail("https://app.test", "u@t.test", "tok", ttl_s=86400)
    assert "https://app.test/verify-email?token=tok" in mail.text
    assert "24 hour(s)" in mail.text
    setup = reset_mail(
        "https://app.test", "u@t.test", "tok", ttl_s=3600, kind="agency_setup"
    )
    assert setup.kind == "agency_setup" and "agency" in setup.subject.lower()
