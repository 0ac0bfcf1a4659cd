"""Security middlewares: CORS from settings, and per-client-IP rate limits on the public
sign-in routes (429 with ``Retry-After``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from tachigo.auth.errors import RateLimitedError
from tachigo.auth.ratelimit import FixedWindowLimiter, client_address, client_key
from tachigo.settings import Settings
from tachigo.web.responses import fail

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

# Route name -> limit class. The Go service limited eight routes; every public sign-in
# route is limited here, because each one either guesses secrets or sends mail.
RATE_LIMITED_ROUTES = {
    "auth_register": "auth",
    "auth_login": "auth",
    "auth_refresh": "auth",
    "auth_logout": "auth",
    "auth_forgot_password": "auth",
    "auth_reset_password": "auth",
    "auth_verify_email_send": "auth",
    "auth_verify_email_confirm": "auth",
    "auth_web3_nonce": "auth",
    "auth_web3_verify": "auth",
    "auth_twitch": "auth",
    "auth_twitch_callback": "auth",
    "auth_google": "auth",
    "auth_google_callback": "auth",
    "extension_login": "extension",
}
_CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_CORS_HEADERS = "Origin, Content-Type, Authorization, Idempotency-Key"
_CORS_EXPOSE = "Content-Length, Retry-After"
# The Go service lets browsers cache a preflight for 12 hours.
_CORS_MAX_AGE_S = 12 * 3600


Networks = list[ipaddress.IPv4Network | ipaddress.IPv6Network]


def trusted_networks(settings: Settings) -> Networks:
    return [
        ipaddress.ip_network(c, strict=False)
        for c in settings.accounts.rate_limit.trusted_proxies
    ]


def request_client_address(request: web.Request, trusted: Networks) -> str:
    """The caller's address; X-Forwarded-For counts only from trusted proxies."""
    return client_address(
        request.remote, request.headers.get("X-Forwarded-For"), trusted
    )


def rate_limit_middleware(settings: Settings) -> Middleware:
    """Count requests to ``RATE_LIMITED_ROUTES`` per (route, client address).

    Raises:
        RateLimitedError: over the limit; the error middleware adds ``Retry-After``.
    """
    limits = settings.accounts.rate_limit
    limiter = FixedWindowLimiter(window_s=limits.window_s, keys_max=limits.keys_max)
    maxima = {
        "auth": limits.auth_requests_max,
        "extension": limits.extension_requests_max,
    }
    trusted = trusted_networks(settings)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = request.match_info.route.name
        limit_class = RATE_LIMITED_ROUTES.get(name or "")
        if limit_class is not None:
            key = client_key(request_client_address(request, trusted))
            wait_s = limiter.hit(name or "", key, limit=maxima[limit_class])
            if wait_s:
                raise RateLimitedError(
                    f"rate limit exceeded: at most {maxima[limit_class]} requests per "
                    f"{limits.window_s}s on this route; retry in {wait_s}s",
                    retry_after_s=wait_s,
                )
        return await handler(request)

    return middleware


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": _CORS_EXPOSE,
        "Vary": "Origin",
    }


def cors_middleware(settings: Settings) -> Middleware:
    """Answer preflights and label responses for the origins in ``api.cors_origins``.

    Outermost, so error responses carry the headers too. Other origins get no CORS
    headers (the browser then hides the response) and a 403 on preflight.
    """
    allowed = frozenset(o.rstrip("/") for o in settings.api.cors_origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (
            request.method == "OPTIONS"
            and origin
            and "Access-Control-Request-Method" in request.headers
        ):
            if origin not in allowed:
                return fail(
                    403,
                    "cors_origin_denied",
                    f"origin {origin[:200]} is not "
                    "allowed; add it to TACHIGO_API__CORS_ORIGINS",
                )
            return web.Response(
                status=204,
                headers=cors_headers(origin)
                | {
                    "Access-Control-Allow-Methods": _CORS_METHODS,
                    "Access-Control-Allow-Headers": _CORS_HEADERS,
                    "Access-Control-Max-Age": str(_CORS_MAX_AGE_S),
                },
            )
        try:
            response = await handler(request)
        except web.HTTPException as redirect:
            if origin in allowed:
                redirect.headers.update(cors_headers(origin or ""))
            raise
        if origin in allowed:
            response.headers.update(cors_headers(origin or ""))
        return response

    return middleware
