"""Every dashboard, agency and admin route, walked with every kind of caller.

The world: streamer A owns channel A, managed by agency A; streamer B owns channel B,
managed by agency B; plus an admin and a plain viewer. Unlisted callers of a route get
403 (role or ownership), anonymous callers 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import make_user, unique

CALLERS = (
    "anonymous",
    "viewer",
    "owner",
    "other_streamer",
    "agency",
    "other_agency",
    "admin",
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    db: asyncpg.Pool, settings: Settings, server_url: str
) -> AsyncIterator[dict[str, Any]]:
    channel_a, channel_b = unique("chA"), unique("chB")
    found: dict[str, Any] = {
        "admin": await make_user(db, settings, "admin"),
        "viewer": await make_user(db, settings),
        "owner": await make_user(db, settings, "streamer", twitch_id=channel_a),
        "other_streamer": await make_user(
            db, settings, "streamer", twitch_id=channel_b
        ),
        "agency": await make_user(db, settings, "agency"),
        "other_agency": await make_user(db, settings, "agency"),
        "channel_a": channel_a,
        "channel_b": channel_b,
    }
    client = ApiClient(server_url, "198.19.0.1")
    for owner, agency, channel in (
        ("owner", "agency", channel_a),
        ("other_streamer", "other_agency", channel_b),
    ):
        status, body, _ = await client.call(
            "POST",
            "/api/v1/dashboard/streamers",
            token=found["admin"]["token"],
            json_body={
                "user_id": str(found[owner]["id"]),
                "channel_id": channel,
                "agency_user_id": str(found[agency]["id"]),
            },
        )
        assert status == 200, body
        found[f"streamer_id_{channel}"] = body["data"]["streamer"]["id"]
    found["client"] = client
    yield found
    await client.close()


Body = Callable[[dict[str, Any]], Any] | None
# (method, path template, body, {caller: status}); format fields come from the world.
ROUTES: list[tuple[str, str, Body, dict[str, int]]] = [
    (
        "POST",
        "/api/v1/dashboard/streamers",
        lambda w: {
            "user_id": str(w["owner"]["id"]),
            "channel_id": w["channel_a"],
            "agency_user_id": str(w["agency"]["id"]),
        },
        {"admin": 200},
    ),
    (
        "GET",
        "/api/v1/dashboard/streamers",
        None,
        {"agency": 200, "other_agency": 200, "admin": 200},
    ),
    (
        "GET",
        "/api/v1/dashboard/streamers/{streamer_a}/stats",
        None,
        {
            "owner": 200,
            "agency": 200,
            "admin": 200,
            "other_streamer": 404,
            "other_agency": 404,
        },
    ),
    (
        "POST",
        "/api/v1/dashboard/streamers/register",
        lambda w: {"channel_id": w["channel_a"]},
        {"owner": 200},
    ),
    (
        "GET",
        "/api/v1/dashboard/streamers/channels",
        None,
        {"owner": 200, "other_streamer": 200},
    ),
    (
        "GET",
        "/api/v1/dashboard/channels/{channel_a}/stats",
        None,
        {"owner": 200, "admin": 200},
    ),
    (
        "GET",
        "/api/v1/dashboard/channels/{channel_a}/config",
        None,
        {"owner": 200, "agency": 200, "admin": 200},
    ),
    (
        "PUT",
        "/api/v1/dashboard/channels/{channel_a}/config",
        lambda w: {"multiplier": 2},
        {"owner": 200, "admin": 200},
    ),
    (
        "POST",
        "/api/v1/agencies",
        lambda w: {"name": unique("Agency "), "email": f"{unique('ag')}@t.test"},
        {"admin": 201},
    ),
    (
        "GET",
        "/api/v1/agencies/{agency_a}",
        None,
        {"agency": 200, "admin": 200, "other_agency": 404},
    ),
    (
        "PUT",
        "/api/v1/agencies/{agency_a}/settings",
        lambda w: {"name": unique("Renamed ")},
        {"agency": 200, "admin": 200, "other_agency": 404},
    ),
    (
        "GET",
        "/api/v1/agencies/{agency_a}/streamers",
        None,
        {"agency": 200, "admin": 200, "other_agency": 404},
    ),
    ("POST", "/api/v1/agencies/{agency_a}/resend-setup", None, {"admin": 200}),
    (
        "PUT",
        "/api/v1/admin/users/{viewer}/role",
        lambda w: {"role": "viewer"},
        {"admin": 200},
    ),
    ("GET", "/api/v1/admin/users", None, {"admin": 200}),
]


def expected_status(allowed: dict[str, int], caller: str) -> int:
    if caller == "anonymous":
        return 401
    return allowed.get(caller, 403)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "template", "body", "allowed"),
    ROUTES,
    ids=[f"{r[0]} {r[1]}" for r in ROUTES],
)
async def test_route_answers_each_caller_by_role_and_ownership(
    world: dict[str, Any],
    caller: str,
    method: str,
    template: str,
    body: Body,
    allowed: dict[str, int],
) -> None:
    path = template.format(
        streamer_a=world[f"streamer_id_{world['channel_a']}"],
        channel_a=world["channel_a"],
        agency_a=world["agency"]["id"],
        viewer=world["viewer"]["id"],
    )
    token = None if caller == "anonymous" else world[caller]["token"]

    status, reply, _ = await world["client"].call(
        method, path, token=token, json_body=body(world) if body else None
    )

    assert status == expected_status(allowed, caller), reply
    assert reply["success"] is (status < 400)
    if status >= 400:
        assert reply["code"] and reply["error"]


async def test_agency_lists_only_the_channels_it_manages(world: dict[str, Any]) -> None:
    status, body, _ = await world["client"].call(
        "GET", "/api/v1/dashboard/streamers", token=world["other_agency"]["token"]
    )

    assert status == 200
    assert [s["channel_id"] for s in body["data"]["streamers"]] == [world["channel_b"]]


async def test_demoted_admin_loses_access_before_its_token_expires(
    world: dict[str, Any], db: asyncpg.Pool, settings: Settings
) -> None:
    second_admin = await make_user(db, settings, "admin")
    client = world["client"]
    demote = await client.call(
        "PUT",
        f"/api/v1/admin/users/{second_admin['id']}/role",
        token=world["admin"]["token"],
        json_body={"role": "viewer", "reason": "left the team"},
    )

    status, body, _ = await client.call(
        "GET", "/api/v1/admin/users", token=second_admin["token"]
    )

    assert demote[0] == 200 and demote[1]["data"]["old_role"] == "admin"
    assert status == 403 and body["code"] == "forbidden"
    audit = await db.fetchrow(
        "SELECT old_role, new_role, changed_by, reason FROM"
        " role_changes WHERE user_id = $1 ORDER BY created_at DESC"
        " LIMIT 1",
        second_admin["id"],
    )
    assert dict(audit) == {
        "old_role": "admin",
        "new_role": "viewer",
        "changed_by": world["admin"]["id"],
        "reason": "left the team",
    }


async def test_nobody_can_raise_their_own_role(world: dict[str, Any]) -> None:
    client = world["client"]
    for caller in ("viewer", "owner", "agency"):
        who = world[caller]
        status, _, _ = await client.call(
            "PUT",
            f"/api/v1/admin/users/{who['id']}/role",
            token=who["token"],
            json_body={"role": "admin"},
        )
        assert status == 403, caller
    status, body, _ = await client.call(
        "PUT",
        f"/api/v1/admin/users/{world['admin']['id']}/role",
        token=world["admin"]["token"],
        json_body={"role": "viewer"},
    )
    assert status == 400 and body["code"] == "self_role_change"


async def test_role_audit_rows_cannot_be_rewritten(
    db: asyncpg.Pool, world: dict[str, Any]
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute(
            "UPDATE role_changes SET reason = 'hidden' WHERE user_id = $1",
            world["owner"]["id"],
        )


async def test_streamer_cannot_claim_a_channel_of_another_twitch_account(
    world: dict[str, Any],
) -> None:
    status, body, _ = await world["client"].call(
        "POST",
        "/api/v1/dashboard/streamers/register",
        token=world["other_streamer"]["token"],
        json_body={"channel_id": world["channel_a"]},
    )

    assert status == 403
    assert body["code"] == "channel_mismatch"


async def test_admin_cannot_give_a_channel_to_a_user_of_another_twitch_account(
    world: dict[str, Any],
) -> None:
    status, body, _ = await world["client"].call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=world["admin"]["token"],
        json_body={
            "user_id": str(world["other_streamer"]["id"]),
            "channel_id": world["channel_a"],
        },
    )

    assert status == 403
    assert body["code"] == "channel_mismatch"


async def test_agency_assignment_must_name_an_agency(world: dict[str, Any]) -> None:
    status, body, _ = await world["client"].call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=world["admin"]["token"],
        json_body={
            "user_id": str(world["owner"]["id"]),
            "channel_id": world["channel_a"],
            "agency_user_id": str(world["viewer"]["id"]),
        },
    )

    assert status == 400
    assert body["code"] == "invalid_agency"


async def test_invalid_ids_in_paths_are_400(world: dict[str, Any]) -> None:
    client, admin = world["client"], world["admin"]["token"]
    for path in (
        "/api/v1/agencies/not-a-uuid",
        "/api/v1/dashboard/streamers/x/stats",
        "/api/v1/admin/users/123/role",
    ):
        method = "PUT" if path.endswith("/role") else "GET"
        status, body, _ = await client.call(
            method, path, token=admin, json_body={"role": "viewer"}
        )
        assert status == 400, path
        assert body["code"] == "invalid_id"
