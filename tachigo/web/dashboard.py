"""Dashboard routes for streamers, agencies and admins (Go contract 1.6, without the
raffle and airdrop routes, which live with the sinks).

Every route loads the caller's role from Postgres, passes the group gate (streamer,
agency, admin), then the route's own roles, then an ownership check on the channel or
streamer it names. Streamer ids answer 404 to non-owners (the Go service's
anti-enumeration rule); channel ids are public Twitch ids and answer 403.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from tachigo import channels
from tachigo.auth import roles, streamers
from tachigo.auth.roles import DASHBOARD_ROLES, Actor
from tachigo.errors import ForbiddenError, NotFoundError, ValidationError
from tachigo.web.context import context
from tachigo.web.requests import principal, read_json, read_query
from tachigo.web.responses import ok

ChannelId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:\-]+$")
]
TwitchUserId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:\-]+$")
]


class StreamerBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user_id: uuid.UUID
    channel_id: ChannelId
    agency_user_id: uuid.UUID | None = None
    display_name: str | None = Field(default=None, max_length=100)


class RegisterStreamerBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    channel_id: ChannelId
    display_name: str | None = Field(default=None, max_length=100)


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=100, ge=1, le=5000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class ConfigBody(BaseModel):
    """DESIGN section 4 settings. As in the Go service, 0 for ``seconds_per_point`` or
    ``multiplier`` means "keep"; a missing or null field is kept too."""

    # strict: "7", 7.0 or true are not a multiplier of 7 or 1; they are errors.
    model_config = ConfigDict(extra="ignore", strict=True)
    seconds_per_point: int | None = Field(default=None, ge=0, le=86_400)
    multiplier: int | None = Field(default=None, ge=0, le=1000)
    daily_cap_points: int | None = Field(default=None, ge=0, le=10**12)
    require_live: bool | None = None
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    click_boost: bool | None = None
    ignored_user_ids: list[TwitchUserId] | None = Field(default=None, max_length=10_000)

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(exclude_none=True)
        for keep_on_zero in ("seconds_per_point", "multiplier"):
            if values.get(keep_on_zero) == 0:
                del values[keep_on_zero]
        if "ignored_user_ids" in values:
            values["ignored_user_ids"] = list(dict.fromkeys(values["ignored_user_ids"]))
        return values


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    """Parse the UUID in path segment ``name``.

    Raises:
        ValidationError: the path segment is not a UUID (``invalid_id``, 400).
    """
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError as error:
        raise ValidationError(
            f"invalid {what}: expected a UUID",
            code="invalid_id",
            status=400,
            field=name,
        ) from error


async def dashboard_actor(request: web.Request, *route_roles: str) -> Actor:
    """Authenticate, load the current role, and apply the group and route gates.

    Raises:
        AuthError: no or bad token (401). ForbiddenError: role mismatch (403).
    """
    ctx = context(request)
    actor = await roles.load_actor(ctx.pool, await principal(request))
    roles.require_role(actor, *DASHBOARD_ROLES)
    roles.require_role(actor, *route_roles)
    return actor


async def accessible_channel(
    request: web.Request, actor: Actor, channel_id: str, *, agency_allowed: bool
) -> asyncpg.Record:
    """The channel row, if ``actor`` may act on it.

    Raises:
        NotFoundError: an admin names an unknown channel (``unknown_channel``).
        ForbiddenError: anyone else names a channel they do not own
            (``not_channel_owner``), whether or not it exists.
    """
    row = await streamers.get_channel_owners(context(request).pool, channel_id)
    if row is None and actor.is_admin:
        raise NotFoundError(
            f"channel {channel_id} is not registered; register it with "
            "POST /api/v1/dashboard/streamers",
            code="unknown_channel",
        )
    if row is None or not roles.owns_channel(actor, row, agency_allowed=agency_allowed):
        raise ForbiddenError(
            f"you do not manage channel {channel_id}",
            code="not_channel_owner",
            channel_id=channel_id,
        )
    return row


async def post_streamer(request: web.Request) -> web.Response:
    """POST /api/v1/dashboard/streamers (admin): make a user the owner of its channel.

    The channel must be the user's Twitch account; a previous owner is replaced.
    Omitting ``agency_user_id`` keeps the current agency; ``null`` clears it. A viewer
    owner becomes a streamer (audited).

    Raises:
        ForbiddenError: ``channel_mismatch``. ValidationError: ``invalid_agency``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "admin")
    body = await read_json(request, StreamerBody)
    await streamers.check_channel_matches_twitch(
        ctx.pool, body.user_id, body.channel_id, yours=False
    )
    agency = (
        body.agency_user_id
        if "agency_user_id" in body.model_fields_set
        else streamers.KEEP
    )
    row = await streamers.assign_streamer(
        ctx.pool,
        ctx.producer,
        ctx.settings,
        user_id=body.user_id,
        channel_id=body.channel_id,
        display_name=body.display_name,
        agency_user_id=agency,
        changed_by=actor.user_id,
        reassign=True,
    )
    return ok({"streamer": streamers.streamer_view(row)})


async def get_streamers(request: web.Request) -> web.Response:
    """GET /api/v1/dashboard/streamers (agency, admin): admins see all, an agency its
    own channels; each with daily_seconds, unique_miners, total_token_minted."""
    ctx = context(request)
    actor = await dashboard_actor(request, "agency", "admin")
    page = read_query(request, PageQuery)
    limit = min(page.limit, ctx.settings.accounts.page_size_max)
    rows = await streamers.list_streamers(
        ctx.pool,
        agency_user_id=None if actor.is_admin else actor.user_id,
        limit=limit,
        offset=page.offset,
    )
    return ok({"streamers": rows, "limit": limit, "offset": page.offset})


async def get_streamer_stats(request: web.Request) -> web.Response:
    """GET /api/v1/dashboard/streamers/{streamer_id}/stats (streamer, agency, admin).

    Raises:
        NotFoundError: unknown, or not the caller's (``streamer_not_found``).
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "streamer", "agency", "admin")
    streamer_id = path_uuid(request, "streamer_id", "streamer_id")
    row = await streamers.get_streamer(ctx.pool, streamer_id)
    if row is None or not roles.owns_channel(actor, row, agency_allowed=True):
        raise NotFoundError("streamer not found", code="streamer_not_found")
    stats = await streamers.streamer_stats(ctx.pool, row)
    return ok({"stats": stats, "channel_id": row["channel_id"]})


async def post_streamer_register(request: web.Request) -> web.Response:
    """POST /api/v1/dashboard/streamers/register (streamer): claim your own channel.

    Raises:
        ForbiddenError: ``channel_mismatch``. ConflictError: ``channel_owned``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "streamer")
    body = await read_json(request, RegisterStreamerBody)
    await streamers.check_channel_matches_twitch(
        ctx.pool, actor.user_id, body.channel_id, yours=True
    )
    row = await streamers.assign_streamer(
        ctx.pool,
        ctx.producer,
        ctx.settings,
        user_id=actor.user_id,
        channel_id=body.channel_id,
        display_name=body.display_name,
        changed_by=actor.user_id,
    )
    return ok({"streamer": streamers.streamer_view(row)})


async def get_streamer_channels(request: web.Request) -> web.Response:
    """GET /api/v1/dashboard/streamers/channels (streamer): the caller's channels."""
    ctx = context(request)
    actor = await dashboard_actor(request, "streamer")
    return ok(
        {"channels": await streamers.list_owned_channels(ctx.pool, actor.user_id)}
    )


async def get_channel_stats(request: web.Request) -> web.Response:
    """GET /api/v1/dashboard/channels/{channel_id}/stats (admin, owning streamer).

    Raises:
        ForbiddenError: ``not_channel_owner``. NotFoundError: ``unknown_channel``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "streamer", "admin")
    row = await accessible_channel(
        request, actor, request.match_info["channel_id"], agency_allowed=False
    )
    return ok({"stats": await streamers.channel_time_stats(ctx.pool, row)})


async def get_channel_config(request: web.Request) -> web.Response:
    """GET /api/v1/dashboard/channels/{channel_id}/config (admin, owner, its agency).

    Raises:
        ForbiddenError: ``not_channel_owner``. NotFoundError: ``unknown_channel``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "streamer", "agency", "admin")
    channel_id = request.match_info["channel_id"]
    await accessible_channel(request, actor, channel_id, agency_allowed=True)
    return ok({"config": await streamers.channel_config(ctx.pool, channel_id)})


async def put_channel_config(request: web.Request) -> web.Response:
    """PUT /api/v1/dashboard/channels/{channel_id}/config (admin, owning streamer).

    Persists the changes and publishes a settings control record to every heartbeats
    partition, so running workers apply them without a restart.

    Raises:
        ValidationError: ``no_changes`` (400), ``invalid_time_zone``, out of range.
        ForbiddenError: ``not_channel_owner``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "streamer", "admin")
    channel_id = request.match_info["channel_id"]
    await accessible_channel(request, actor, channel_id, agency_allowed=False)
    body = await read_json(request, ConfigBody)
    changes = body.changes()
    if not changes:
        raise ValidationError(
            "at least one field must be set; 0 keeps seconds_per_point and multiplier",
            code="no_changes",
            status=400,
        )
    if "time_zone" in changes:
        channels.validate_time_zone(changes["time_zone"])
    await streamers.update_channel_config(
        ctx.pool, ctx.producer, ctx.settings, channel_id, changes
    )
    return ok({"config": await streamers.channel_config(ctx.pool, channel_id)})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/dashboard/streamers", post_streamer)
    r.add_get("/api/v1/dashboard/streamers", get_streamers)
    r.add_post("/api/v1/dashboard/streamers/register", post_streamer_register)
    r.add_get("/api/v1/dashboard/streamers/channels", get_streamer_channels)
    r.add_get("/api/v1/dashboard/streamers/{streamer_id}/stats", get_streamer_stats)
    r.add_get("/api/v1/dashboard/channels/{channel_id}/stats", get_channel_stats)
    r.add_get("/api/v1/dashboard/channels/{channel_id}/config", get_channel_config)
    r.add_put("/api/v1/dashboard/channels/{channel_id}/config", put_channel_config)
