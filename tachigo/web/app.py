"""Build and run the aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tachigo.errors import TachigoError
from tachigo.kafka.producer import RecordProducer
from tachigo.kafka.records import Tick
from tachigo.ledger.pool import create_pool
from tachigo.settings import Settings
from tachigo.web import (
    admin,
    agencies,
    auth_routes,
    dashboard,
    eventsub,
    ingest,
    security,
    users,
)
from tachigo.web.context import CONTEXT_KEY, AppContext, context
from tachigo.web.middlewares import (
    access_log_middleware,
    error_middleware,
    timeout_middleware,
)

log = logging.getLogger(__name__)

# Extra route modules (auth, dashboard, ...) register here: each exposes
# add_routes(app).
ROUTE_MODULES = [ingest, eventsub, admin, auth_routes, users, dashboard, agencies]


async def run_ticker(ctx: AppContext) -> None:
    """Write a tick into every heartbeats partition every ``tick_interval_s``.

    Ticks carry this process's clock so the worker can close idle buckets without
    reading a clock itself. Failures are logged and retried on the next beat.
    """
    interval = ctx.settings.watch.tick_interval_s
    while True:
        try:
            await ctx.producer.send_to_every_partition(
                ctx.settings.kafka.heartbeats_topic, Tick(int(time.time() * 1000))
            )
        except TachigoError as error:
            log.warning("tick_failed", extra={"error": error.message})
        await asyncio.sleep(interval)


def context_lifecycle(settings: Settings):  # type: ignore[no-untyped-def]
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(settings)
        producer = RecordProducer(settings)
        await producer.start()
        ctx = AppContext(settings=settings, pool=pool, producer=producer)
        app[CONTEXT_KEY] = ctx
        ticker = asyncio.create_task(run_ticker(ctx), name="ticker")
        log.info(
            "api_started",
            extra={
                "port": settings.api.port,
                "kafka": settings.kafka.bootstrap_servers,
            },
        )
        yield
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await producer.stop()
        await pool.close()

    return lifecycle


async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def get_readyz(request: web.Request) -> web.Response:
    """Ready when Postgres answers and Kafka metadata for heartbeats is reachable."""
    ctx = context(request)
    checks = {"db": "ok", "kafka": "ok"}
    try:
        async with asyncio.timeout(2):
            await ctx.pool.fetchval("SELECT 1")
    except (OSError, TimeoutError, Exception):  # boundary: any failure means not ready
        checks["db"] = "unavailable"
    try:
        await ctx.producer.check()
    except (TachigoError, TimeoutError):
        checks["kafka"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", **checks},
        status=200 if ready else 503,
    )


async def get_metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def get_openapi(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: the routes this process serves."""
    paths: dict[str, dict[str, object]] = {}
    for route in request.app.router.routes():
        info = route.get_info()
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        doc = (route.handler.__doc__ or "").strip().splitlines()
        paths.setdefault(path, {})[route.method.lower()] = {
            "summary": doc[0] if doc else "",
            "responses": {
                "default": {
                    "description": "JSON envelope {success, data} or"
                    " {success:false, error, code, details}"
                }
            },
        }
    return web.json_response(
        {
            "openapi": "3.1.0",
            "info": {"title": "tachigo API", "version": "1"},
            "paths": paths,
        }
    )


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.api.body_bytes_max,
        middlewares=[
            security.cors_middleware(settings),
            error_middleware,
            security.rate_limit_middleware(settings),
            timeout_middleware(settings.api.request_timeout_s),
            access_log_middleware,
        ],
    )
    app.cleanup_ctx.append(context_lifecycle(settings))
    app.router.add_get("/health", get_health)
    app.router.add_get("/readyz", get_readyz)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/api/v1/openapi.json", get_openapi)
    for module in ROUTE_MODULES:
        module.add_routes(app)
    return app


def serve(settings: Settings) -> None:
    """Run one API process; several can share the port (SO_REUSEPORT)."""
    web.run_app(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        reuse_port=True,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )
