"""Middlewares: error envelope, request deadline, access log. Order matters: errors wrap
everything so no exception escapes as HTML."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from tachigo.errors import TachigoError, UnavailableError
from tachigo.web.responses import fail

log = logging.getLogger(__name__)
access_log = logging.getLogger("tachigo.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Turn every failure into the JSON envelope with a stable code."""
    try:
        return await handler(request)
    except UnavailableError as error:
        return fail(
            error.status,
            error.code,
            error.message,
            details=error.details,
            headers={"Retry-After": str(error.retry_after_s)},
        )
    except TachigoError as error:
        headers = (
            {"Retry-After": str(error.details["retry_after_s"])}
            if ("retry_after_s" in error.details)
            else None
        )
        return fail(
            error.status,
            error.code,
            error.message,
            details=error.details,
            headers=headers,
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "http_error")
        message = error.reason
        if error.status == 413:
            message = "request body too large; send at most the documented size"
        elif error.status == 404:
            message = f"no route for {request.method} {request.path}"
        return fail(
            error.status,
            code,
            message,
            headers={k: v for k, v in error.headers.items() if k in ("Allow",)},
        )
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as error:
        log.warning(
            "postgres_unavailable",
            extra={"path": request.path, "error": repr(error)[:200]},
        )
        return fail(
            503,
            "service_unavailable",
            "the database is unreachable; retry in a few seconds",
            headers={"Retry-After": "5"},
        )
    except asyncio.CancelledError:
        raise
    except Exception:  # boundary: log once, answer a generic 500
        log.exception(
            "request_failed", extra={"method": request.method, "path": request.path}
        )
        return fail(
            500, "internal_error", "internal server error; retry later or report it"
        )


def timeout_middleware(
    timeout_s: float,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            async with asyncio.timeout(timeout_s):
                return await handler(request)
        except TimeoutError:
            return fail(
                504,
                "request_timeout",
                f"request took longer than {timeout_s}s; retry later",
            )

    return middleware


@web.middleware
async def access_log_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    if access_log.isEnabledFor(logging.DEBUG):
        access_log.debug(
            "http_request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    return response
