"""Redirect targets, PKCE and OIDC id_token checks (pure functions, local keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tachigo.auth import oauth
from tachigo.auth.errors import OAuthError
from tachigo.auth.settings import OAuthProviderSettings, OAuthSettings
from tachigo.errors import NotFoundError, ValidationError

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_JWK = jwt.PyJWK.from_json(
    jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()), algorithm="RS256"
)
PROVIDER = OAuthProviderSettings(
    client_id="our-client",
    client_secret=SecretStr("s3cret"),
    authorize_url="https://idp.test/auth",
    token_url="https://idp.test/token",
    jwks_url="https://idp.test/certs",
    issuers=["https://idp.test"],
    redirect_uri="https://api.test/cb",
    use_pkce=True,
    scopes=["openid", "email"],
)


@pytest.mark.parametrize(
    "value", ["/", "/dashboard", "/a/b?tab=1&x=%20y", "/wallet/link"]
)
def test_same_site_paths_are_accepted(value: str) -> None:
    assert oauth.check_redirect_to(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "dashboard",
        "https://evil.test",
        "//evil.test",
        "/\\evil.test",
        "\\/evil.test",
        "/%2f%2fevil.test",
        "%2F%2Fevil.test",
        "/x#frag",
        "/x%23frag",
        "/a\nb",
        "/a%0ab",
        "/a\x7fb",
        "javascript:alert(1)",
        "/" + "a" * 600,
        "/%5c%5cevil.test",
    ],
)
def test_other_redirect_targets_are_refused(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        oauth.check_redirect_to(value)

    assert raised.value.code == "invalid_redirect_to"
    assert raised.value.status == 400


@given(st.text(max_size=80))
def test_accepted_redirects_never_leave_the_site(value: str) -> None:
    import urllib.parse

    try:
        oauth.check_redirect_to(value)
    except ValidationError:
        return
    for candidate in (value, urllib.parse.unquote(value)):
        parts = urllib.parse.urlsplit("https://app.test" + candidate)
        assert parts.netloc == "app.test"
        assert candidate.startswith("/") and not candidate.startswith("//")


def test_pkce_challenge_matches_rfc7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert (
        oauth.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_authorize_url_carries_state_nonce_and_challenge() -> None:
    import urllib.parse

    started = oauth.start_authorization(PROVIDER)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.url).query))

    assert query["state"] == started.state and query["nonce"] == started.nonce
    assert query["code_challenge"] == oauth.pkce_challenge(started.verifier)
    assert query["redirect_uri"] == "https://api.test/cb"
    assert started.state != oauth.start_authorization(PROVIDER).state


def test_disabled_or_unknown_providers_are_not_found() -> None:
    for name in ("twitch", "myspace"):
        with pytest.raises(NotFoundError):
            oauth.provider_settings(OAuthSettings(), name)


def id_token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://idp.test",
        "aud": "our-client",
        "sub": "123",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "email": "A@Mail.test",
        "email_verified": True,
    } | overrides
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


def decode(token: str) -> dict[str, Any]:
    return oauth.decode_id_token(token, PUBLIC_JWK, PROVIDER, nonce="n-1", leeway_s=10)


def test_valid_id_token_gives_a_verified_identity() -> None:
    identity = oauth.identity_from_claims("google", decode(id_token()))

    assert identity.subject == "123"
    assert identity.email == "a@mail.test"


def test_unverified_email_is_dropped_from_the_identity() -> None:
    identity = oauth.identity_from_claims(
        "google", decode(id_token(email_verified=False))
    )

    assert identity.email is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-client"},
        {"iss": "https://evil.test"},
        {"exp": int(time.time()) - 60},
        {"iat": None},
        {"sub": None},
        {"nonce": "n-2"},
        {"nonce": None},
        {"aud": ["our-client", "another"]},
        {"aud": ["our-client", "another"], "azp": "another"},
    ],
)
def test_id_tokens_failing_a_check_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(OAuthError) as raised:
        decode(id_token(**overrides))

    assert raised.value.code == "oauth_invalid_id_token"
    assert raised.value.status == 401


def test_multi_audience_token_with_our_azp_is_accepted() -> None:
    claims = decode(id_token(aud=["our-client", "another"], azp="our-client"))

    assert claims["sub"] == "123"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_hmac_token_keyed_with_the_public_key_is_refused() -> None:
    """The RS256/HS256 confusion attack: HMAC over the token with the public PEM."""
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(id_token(), options={"verify_signature": False})
    signing_input = (
        b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"

    with pytest.raises(OAuthError):
        oauth.id_token_kid(forged)
    with pytest.raises(OAuthError):
        decode(forged)


def test_unsigned_id_token_is_refused_before_any_key_lookup() -> None:
    def part(value: dict[str, Any]) -> str:
        return (
            base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
        )

    token = f"{part({'alg': 'none', 'kid': 'k1'})}.{part({'sub': '1'})}."

    with pytest.raises(OAuthError):
        oauth.id_token_kid(token)
