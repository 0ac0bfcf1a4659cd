"""Admin routes for operating channels: register a channel, set it live/offline
(dev).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from tachigo import channels
from tachigo.auth.roles import load_actor, require_role
from tachigo.web.context import context
from tachigo.web.requests import ChannelIdStr, principal, read_json
from tachigo.web.responses import ok


class ChannelBody(BaseModel):
    # strict: "7", 7.0 or true are not a multiplier of 7 or 1; they are errors.
    model_config = ConfigDict(extra="forbid", strict=True)
    channel_id: ChannelIdStr
    display_name: str | None = Field(default=None, max_length=100)
    seconds_per_point: int | None = Field(default=None, ge=1, le=86_400)
    multiplier: int | None = Field(default=None, ge=0, le=1000)
    daily_cap_points: int | None = Field(default=None, ge=0, le=10**12)
    require_live: bool | None = None
    time_zone: str | None = Field(default=None, max_length=64)
    ignored_user_ids: list[str] | None = Field(default=None, max_length=10_000)


class LiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    online: bool
    stream_id: str | None = Field(default=None, max_length=64)


async def require_admin(request: web.Request) -> None:
    """The caller's current role (read from Postgres, not the token) must be admin.

    Raises:
        ForbiddenError: not an admin now, or an extension token.
        AuthError: the user is gone or deactivated.
    """
    actor = await load_actor(context(request).pool, await principal(request))
    require_role(actor, "admin")


async def post_channel(request: web.Request) -> web.Response:
    """POST /api/v1/admin/channels: create or update a channel; tells the worker."""
    await require_admin(request)
    ctx = context(request)
    body = await read_json(request, ChannelBody)
    changes = body.model_dump(exclude_none=True, exclude={"channel_id", "display_name"})
    row = await channels.upsert_channel(
        ctx.pool,
        ctx.producer,
        ctx.settings,
        body.channel_id,
        changes=changes,
        display_name=body.display_name,
    )
    return ok(
        {"channel_id": row.channel_id, "settings": row.settings, "is_live": row.is_live}
    )


async def post_channel_live(request: web.Request) -> web.Response:
    """POST /api/v1/admin/channels/{channel_id}/live: mark online/offline
    (development).
    """
    await require_admin(request)
    ctx = context(request)
    body = await read_json(request, LiveBody)
    channel_id = request.match_info["channel_id"]
    await channels.set_live(
        ctx.pool,
        ctx.producer,
        ctx.settings,
        channel_id,
        online=body.online,
        stream_id=body.stream_id,
    )
    return ok({"channel_id": channel_id, "is_live": body.online})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/admin/channels", post_channel)
    app.router.add_post("/api/v1/admin/channels/{channel_id}/live", post_channel_live)
