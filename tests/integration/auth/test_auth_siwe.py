"""Sign-In with Ethereum: nonce, verify, wallet binding; replays and tampering are
refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from tachigo.auth.siwe import format_time
from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import make_user


def sign(account: LocalAccount, message: str) -> str:
    signed = Account.sign_message(encode_defunct(text=message), account.key)
    return "0x" + bytes(signed.signature).hex()


async def nonce_for(api: ApiClient, address: str) -> dict[str, Any]:
    status, body, _ = await api.call(
        "POST", "/api/v1/auth/web3/nonce", json_body={"address": address}
    )
    assert status == 200, body
    data: dict[str, Any] = body["data"]
    return data


def custom_message(
    address: str,
    nonce: str,
    *,
    domain: str = "localhost:5173",
    uri: str = "http://localhost:5173",
    chain_id: int = 31337,
    issued_at: datetime | None = None,
    expiration: datetime | None = None,
) -> str:
    lines = [
        f"http://{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "Sign in to Tachigo",
        "",
        f"URI: {uri}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {format_time(issued_at or datetime.now(UTC))}",
    ]
    if expiration is not None:
        lines.append(f"Expiration Time: {format_time(expiration)}")
    return "\n".join(lines)


async def test_wallet_sign_in_creates_a_user_and_the_nonce_works_once(
    api: ApiClient, other_api: ApiClient, db: asyncpg.Pool
) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address.lower())
    assert issued["address"] == wallet.address
    assert len(issued["nonce"]) == 64
    signature = sign(wallet, issued["message"])

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={
            "message": issued["message"],
            "signature": signature,
            "address": wallet.address,
            "nonce": issued["nonce"],
        },
    )
    replay = await other_api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": issued["message"], "signature": signature},
    )

    assert status == 200, body
    assert api.cookie("refresh_token") is not None
    assert replay[0] == 401 and replay[1]["code"] == "siwe_invalid_nonce"
    owner = await db.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = 'web3'"
        " AND provider_id = $1",
        wallet.address,
    )
    assert str(owner) == body["data"]["user"]["id"]


async def test_nonce_message_is_eip4361_for_our_origin(api: ApiClient) -> None:
    wallet = Account.create()

    issued = await nonce_for(api, wallet.address)

    lines = issued["message"].split("\n")
    assert lines[0] == (
        "http://localhost:5173 wants you to sign in with your Ethereum account:"
    )
    assert lines[1] == wallet.address
    assert "URI: http://localhost:5173" in lines
    assert "Version: 1" in lines and "Chain ID: 31337" in lines
    assert f"Nonce: {issued['nonce']}" in lines
    assert f"Issued At: {issued['issued_at']}" in lines


async def test_concurrent_verifies_of_one_signed_message_sign_in_once(
    api: ApiClient, other_api: ApiClient
) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address)
    body = {"message": issued["message"], "signature": sign(wallet, issued["message"])}

    results = await asyncio.gather(
        *[
            client.call("POST", "/api/v1/auth/web3/verify", json_body=body)
            for client in (api, other_api, api, other_api)
        ]
    )

    assert sorted(r[0] for r in results) == [200, 401, 401, 401]


async def test_message_for_another_domain_is_refused(api: ApiClient) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address)
    phishing = custom_message(wallet.address, issued["nonce"], domain="evil.test")

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": phishing, "signature": sign(wallet, phishing)},
    )

    assert status == 401
    assert body["code"] == "siwe_wrong_domain"


async def test_message_with_wrong_uri_or_chain_is_refused(api: ApiClient) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address)
    cases = {
        "siwe_wrong_uri": custom_message(
            wallet.address, issued["nonce"], uri="http://localhost:5173/other"
        ),
        "siwe_wrong_chain": custom_message(wallet.address, issued["nonce"], chain_id=1),
    }
    for code, message in cases.items():
        status, body, _ = await api.call(
            "POST",
            "/api/v1/auth/web3/verify",
            json_body={"message": message, "signature": sign(wallet, message)},
        )
        assert status == 401 and body["code"] == code


async def test_expired_messages_are_refused(api: ApiClient) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address)
    now = datetime.now(UTC)
    cases = [
        custom_message(
            wallet.address, issued["nonce"], expiration=now - timedelta(seconds=1)
        ),
        custom_message(
            wallet.address, issued["nonce"], issued_at=now - timedelta(minutes=10)
        ),
    ]
    for message in cases:
        status, body, _ = await api.call(
            "POST",
            "/api/v1/auth/web3/verify",
            json_body={"message": message, "signature": sign(wallet, message)},
        )
        assert status == 401 and body["code"] == "siwe_expired"


async def test_expired_nonce_is_refused(api: ApiClient, db: asyncpg.Pool) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address)
    await db.execute(
        "UPDATE siwe_nonces SET expires_at = now() - interval '1 second'"
        " WHERE nonce = $1",
        issued["nonce"],
    )
    message = custom_message(wallet.address, issued["nonce"])

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": message, "signature": sign(wallet, message)},
    )

    assert status == 401
    assert body["code"] == "siwe_invalid_nonce"


async def test_nonce_of_another_address_is_refused(api: ApiClient) -> None:
    victim, attacker = Account.create(), Account.create()
    issued = await nonce_for(api, victim.address)
    message = custom_message(attacker.address, issued["nonce"])

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": message, "signature": sign(attacker, message)},
    )

    assert status == 401
    assert body["code"] == "siwe_invalid_nonce"


async def test_signature_by_another_wallet_is_refused_and_keeps_the_nonce(
    api: ApiClient,
) -> None:
    wallet, other = Account.create(), Account.create()
    issued = await nonce_for(api, wallet.address)

    forged = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={
            "message": issued["message"],
            "signature": sign(other, issued["message"]),
        },
    )
    garbage = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": issued["message"], "signature": "0x1234"},
    )
    genuine = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={
            "message": issued["message"],
            "signature": sign(wallet, issued["message"]),
        },
    )

    assert forged[0] == 401 and forged[1]["code"] == "siwe_invalid_signature"
    assert garbage[0] == 401 and garbage[1]["code"] == "siwe_invalid_signature"
    assert genuine[0] == 200


async def test_tampered_message_after_signing_is_refused(api: ApiClient) -> None:
    wallet = Account.create()
    issued = await nonce_for(api, wallet.address)
    signature = sign(wallet, issued["message"])
    tampered = issued["message"].replace("Sign in to Tachigo", "Sign in to Tachigo!")

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": tampered, "signature": signature},
    )

    assert status == 401
    assert body["code"] == "siwe_invalid_signature"


async def test_malformed_message_or_address_is_a_400(api: ApiClient) -> None:
    bad_address = await api.call(
        "POST", "/api/v1/auth/web3/nonce", json_body={"address": "0x1234"}
    )
    bad_message = await api.call(
        "POST",
        "/api/v1/auth/web3/verify",
        json_body={"message": "hello", "signature": "0x" + "00" * 65},
    )

    assert bad_address[0] == 400 and bad_address[1]["code"] == "invalid_wallet_address"
    assert bad_message[0] == 400 and bad_message[1]["code"] == "siwe_malformed"


async def test_wallet_binding_keeps_one_active_wallet_per_user_and_address(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    alice = await make_user(db, settings)
    bob = await make_user(db, settings)
    first, second = Account.create(), Account.create()

    async def bind(
        user: dict[str, Any], wallet: LocalAccount
    ) -> tuple[int, dict[str, Any]]:
        issued = await nonce_for(api, wallet.address)
        status, body, _ = await api.call(
            "POST",
            "/api/v1/users/me/wallet",
            token=user["token"],
            json_body={
                "message": issued["message"],
                "signature": sign(wallet, issued["message"]),
            },
        )
        return status, body

    assert await bind(alice, first) == (
        200,
        {"success": True, "data": {"address": first.address}},
    )
    taken = await bind(bob, first)
    assert taken[0] == 409 and taken[1]["code"] == "wallet_taken"
    assert (await bind(alice, second))[0] == 200
    assert (await bind(bob, first))[0] == 200
    assert (await bind(alice, first))[0] == 409
    active = await db.fetch(
        "SELECT user_id, provider_id FROM auth_providers WHERE"
        " provider = 'web3' AND deleted_at IS NULL AND user_id ="
        " ANY($1::uuid[])",
        [alice["id"], bob["id"]],
    )
    assert {(r["user_id"], r["provider_id"]) for r in active} == {
        (alice["id"], second.address),
        (bob["id"], first.address),
    }


async def test_concurrent_binding_of_one_wallet_gives_it_to_one_user(
    api: ApiClient, other_api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    users = [await make_user(db, settings) for _ in range(4)]
    wallet = Account.create()
    bodies = []
    for _ in users:
        issued = await nonce_for(api, wallet.address)
        bodies.append(
            {"message": issued["message"], "signature": sign(wallet, issued["message"])}
        )

    results = await asyncio.gather(
        *[
            client.call(
                "POST", "/api/v1/users/me/wallet", token=user["token"], json_body=body
            )
            for client, user, body in zip(
                (api, other_api) * 2, users, bodies, strict=True
            )
        ]
    )

    assert sorted(r[0] for r in results) == [200, 409, 409, 409]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM auth_providers WHERE provider = 'web3'"
            " AND provider_id = $1 AND deleted_at IS NULL",
            wallet.address,
        )
        == 1
    )
