"""The error every operating failure raises: a stable code, a message, the values
involved.
"""

from __future__ import annotations

from typing import Any


class TachigoError(Exception):
    """An expected failure (bad input, duplicate, low balance, timeout).

    ``code`` is stable and snake_case; clients branch on it. ``status`` is the HTTP
    status the web edge answers with. ``details`` holds the values a caller needs.
    """

    code = "tachigo_error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details


class ValidationError(TachigoError):
    code = "validation_failed"
    status = 422


class NotFoundError(TachigoError):
    code = "not_found"
    status = 404


class AuthError(TachigoError):
    code = "unauthorized"
    status = 401


class ForbiddenError(TachigoError):
    code = "forbidden"
    status = 403


class ConflictError(TachigoError):
    code = "conflict"
    status = 409


class UnavailableError(TachigoError):
    """A dependency (Kafka, Postgres) is unreachable; the client should retry later."""

    code = "service_unavailable"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int = 5, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


class InvariantError(Exception):
    """A ledger or state invariant is broken: log CRITICAL, stop the task, never
    retry.
    """
