"""Agencies: creation with a set-up mail, onboarding, renaming, their channels."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import (
    make_user,
    token_from_mail,
    unique,
    wait_for_mail,
)


async def test_created_agency_sets_its_password_from_the_setup_mail(
    api: ApiClient, db: asyncpg.Pool, settings: Settings, outbox: Path
) -> None:
    admin = await make_user(db, settings, "admin")
    email = f"{unique('agency')}@Agency.test"

    status, body, _ = await api.call(
        "POST",
        "/api/v1/agencies",
        token=admin["token"],
        json_body={"name": "Acme Talent " + unique(""), "email": email},
    )
    assert status == 201, body
    agency_id = body["data"]["id"]
    assert body["data"]["email"] == email.lower()
    mail = await wait_for_mail(outbox, email.lower(), kind="agency_setup")
    profile = await api.call(
        "GET", f"/api/v1/agencies/{agency_id}", token=admin["token"]
    )
    assert profile[1]["data"]["onboarding_complete"] is False

    reset = await api.call(
        "POST",
        "/api/v1/auth/reset-password",
        json_body={"token": token_from_mail(mail), "new_password": "agency password 1"},
    )
    login = await api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": email, "password": "agency password 1"},
    )
    after = await api.call(
        "GET",
        f"/api/v1/agencies/{agency_id}",
        token=login[1]["data"]["tokens"]["access_token"],
    )
    resend = await api.call(
        "POST", f"/api/v1/agencies/{agency_id}/resend-setup", token=admin["token"]
    )

    assert reset[0] == 200
    assert login[0] == 200 and login[1]["data"]["user"]["role"] == "agency"
    assert after[1]["data"]["onboarding_complete"] is True
    assert resend[0] == 409 and resend[1]["code"] == "onboarding_complete"
    audit = await db.fetchval(
        "SELECT new_role FROM role_changes WHERE user_id = $1::uuid", agency_id
    )
    assert audit == "agency"


async def test_agency_names_and_emails_are_unique(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    admin = await make_user(db, settings, "admin")
    name, email = "Dup Agency " + unique(""), f"{unique('dup')}@t.test"
    await api.call(
        "POST",
        "/api/v1/agencies",
        token=admin["token"],
        json_body={"name": name, "email": email},
    )

    same_email = await api.call(
        "POST",
        "/api/v1/agencies",
        token=admin["token"],
        json_body={"name": name + "2", "email": email},
    )
    same_name = await api.call(
        "POST",
        "/api/v1/agencies",
        token=admin["token"],
        json_body={"name": name, "email": "x" + email},
    )
    too_long = await api.call(
        "POST",
        "/api/v1/agencies",
        token=admin["token"],
        json_body={"name": "n" * 51, "email": "y" + email},
    )

    assert same_email[0] == 409 and same_email[1]["code"] == "email_taken"
    assert same_name[0] == 409 and same_name[1]["code"] == "username_taken"
    assert too_long[0] == 422


async def test_agency_renames_itself(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    agency = await make_user(db, settings, "agency")
    new_name = "New Name " + unique("")

    status, body, _ = await api.call(
        "PUT",
        f"/api/v1/agencies/{agency['id']}/settings",
        token=agency["token"],
        json_body={"name": new_name},
    )
    profile = await api.call(
        "GET", f"/api/v1/agencies/{agency['id']}", token=agency["token"]
    )

    assert status == 200 and body["data"] == {"name": new_name}
    assert profile[1]["data"]["name"] == new_name


async def test_agency_streamers_come_from_channel_ownership(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    admin = await make_user(db, settings, "admin")
    agency = await make_user(db, settings, "agency")
    channel = unique("ch")
    owner = await make_user(db, settings, "streamer", twitch_id=channel)
    assigned = await api.call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=admin["token"],
        json_body={
            "user_id": str(owner["id"]),
            "channel_id": channel,
            "agency_user_id": str(agency["id"]),
        },
    )

    status, body, _ = await api.call(
        "GET", f"/api/v1/agencies/{agency['id']}/streamers", token=agency["token"]
    )
    kept = await api.call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=admin["token"],
        json_body={"user_id": str(owner["id"]), "channel_id": channel},
    )
    cleared = await api.call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=admin["token"],
        json_body={
            "user_id": str(owner["id"]),
            "channel_id": channel,
            "agency_user_id": None,
        },
    )
    after = await api.call(
        "GET", f"/api/v1/agencies/{agency['id']}/streamers", token=agency["token"]
    )

    assert assigned[0] == 200
    assert status == 200
    assert body["data"]["streamers"] == [
        {
            "channel_id": channel,
            "user_id": str(owner["id"]),
            "streamer_id": assigned[1]["data"]["streamer"]["id"],
            "display_name": None,
        }
    ]
    assert kept[1]["data"]["streamer"]["agency_user_id"] == str(agency["id"])
    assert cleared[1]["data"]["streamer"]["agency_user_id"] is None
    assert after[1]["data"]["streamers"] == []


async def test_unknown_agency_is_404_for_admins(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    admin = await make_user(db, settings, "admin")
    viewer = await make_user(db, settings)

    for agency_id in (viewer["id"], "00000000-0000-7000-8000-000000000000"):
        status, body, _ = await api.call(
            "GET", f"/api/v1/agencies/{agency_id}", token=admin["token"]
        )
        assert status == 404 and body["code"] == "agency_not_found"
