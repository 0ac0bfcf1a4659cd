"""Envelope helpers; the only place that shapes response bodies."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def ok(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"success": True, "data": data}, status=status, headers=headers, dumps=_dumps
    )


def fail(
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"success": False, "error": message, "code": code, "details": details or {}}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)
