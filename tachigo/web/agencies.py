"""Agency routes (Go contract 1.8). An agency sees only itself: another agency's id
answers 404, so ids cannot be probed (the Go service answered 403)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from tachigo.auth import agencies, streamers
from tachigo.auth.errors import MailError
from tachigo.auth.roles import Actor
from tachigo.errors import ConflictError, NotFoundError
from tachigo.web.auth_routes import Email, queue_reset
from tachigo.web.context import context
from tachigo.web.dashboard import dashboard_actor, path_uuid
from tachigo.web.requests import read_json
from tachigo.web.responses import ok

log = logging.getLogger(__name__)

AgencyName = Annotated[
    str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class CreateAgencyBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    name: AgencyName
    email: Email


class AgencySettingsBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    name: AgencyName


def check_agency_access(actor: Actor, agency_id: uuid.UUID) -> None:
    """Let admins see every agency and an agency only itself.

    Raises:
        NotFoundError: an agency asking about another agency (``agency_not_found``).
    """
    if not actor.is_admin and actor.user_id != agency_id:
        raise NotFoundError(f"agency {agency_id} not found", code="agency_not_found")


async def post_agency(request: web.Request) -> web.Response:
    """POST /api/v1/agencies (admin): create an agency account and mail its set-up link.

    One transaction writes the user (role agency, verified email, no password), its
    email provider and a role audit row; the set-up mail is queued afterwards.

    Raises:
        ConflictError: ``email_taken``/``username_taken``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "admin")
    body = await read_json(request, CreateAgencyBody)
    row = await agencies.create_agency(
        ctx.pool, name=body.name, email=body.email, created_by=actor.user_id
    )
    if not await queue_reset(request, row["id"], body.email, kind="agency_setup"):
        log.warning("agency_setup_mail_not_queued", extra={"agency_id": str(row["id"])})
    view = agencies.agency_view(row)
    return ok(
        {"id": view["id"], "name": view["name"], "email": view["email"]}, status=201
    )


async def get_agency(request: web.Request) -> web.Response:
    """GET /api/v1/agencies/{id} (the agency itself, admin).

    Raises:
        NotFoundError: ``agency_not_found``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "agency", "admin")
    agency_id = path_uuid(request, "id", "agency id")
    check_agency_access(actor, agency_id)
    return ok(agencies.agency_view(await agencies.get_agency(ctx.pool, agency_id)))


async def put_agency_settings(request: web.Request) -> web.Response:
    """PUT /api/v1/agencies/{id}/settings (the agency itself, admin): rename.

    Raises:
        NotFoundError: ``agency_not_found``. ConflictError: ``username_taken``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "agency", "admin")
    agency_id = path_uuid(request, "id", "agency id")
    check_agency_access(actor, agency_id)
    body = await read_json(request, AgencySettingsBody)
    await agencies.get_agency(ctx.pool, agency_id)
    await agencies.rename_agency(ctx.pool, agency_id, body.name)
    return ok({"name": body.name})


async def get_agency_streamers(request: web.Request) -> web.Response:
    """GET /api/v1/agencies/{id}/streamers (the agency itself, admin): its channels
    from ``channels.agency_user_id``, the one ownership record.

    Raises:
        NotFoundError: ``agency_not_found``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "agency", "admin")
    agency_id = path_uuid(request, "id", "agency id")
    check_agency_access(actor, agency_id)
    await agencies.get_agency(ctx.pool, agency_id)
    return ok({"streamers": await streamers.agency_channels(ctx.pool, agency_id)})


async def post_agency_resend_setup(request: web.Request) -> web.Response:
    """POST /api/v1/agencies/{id}/resend-setup (admin): mail a new set-up link.

    Raises:
        NotFoundError: ``agency_not_found``. ConflictError: ``onboarding_complete``.
    """
    ctx = context(request)
    await dashboard_actor(request, "admin")
    agency_id = path_uuid(request, "id", "agency id")
    row = await agencies.get_agency(ctx.pool, agency_id)
    if row["onboarding_complete"]:
        raise ConflictError(
            "agency has already completed onboarding; it can use "
            "forgot-password instead",
            code="onboarding_complete",
        )
    if row["email"] is None or not await queue_reset(
        request, agency_id, row["email"], kind="agency_setup"
    ):
        raise MailError(
            "set-up mail could not be queued; retry shortly", code="mail_not_queued"
        )
    return ok({"message": "setup email sent"})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/agencies", post_agency)
    r.add_get("/api/v1/agencies/{id}", get_agency)
    r.add_put("/api/v1/agencies/{id}/settings", put_agency_settings)
    r.add_get("/api/v1/agencies/{id}/streamers", get_agency_streamers)
    r.add_post("/api/v1/agencies/{id}/resend-setup", post_agency_resend_setup)
