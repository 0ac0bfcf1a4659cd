"""Errors of sign-in and authorization; each has a stable ``code`` clients branch on."""

from __future__ import annotations

from typing import Any

from tachigo.errors import AuthError, TachigoError


class InvalidCredentialsError(AuthError):
    """Wrong email or password; the same answer whether or not the email exists."""

    code = "invalid_credentials"


class RefreshTokenError(AuthError):
    """A refresh token that is unknown, expired, revoked, or was already rotated."""

    code = "invalid_refresh_token"


class SiweError(AuthError):
    """A Sign-In with Ethereum message or signature fails a check."""

    code = "siwe_invalid"


class OAuthError(TachigoError):
    """The OAuth provider refused, answered badly or did not answer in time."""

    code = "oauth_failed"
    status = 502


class RateLimitedError(TachigoError):
    """Too many requests from one client address on one route."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)


class MailError(TachigoError):
    """A mail could not be handed to the configured sender."""

    code = "mail_failed"
    status = 503
