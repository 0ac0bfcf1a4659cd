"""What presenting a refresh token means, decided from its (locked) row."""

from __future__ import annotations

from typing import Any

import pytest

from tachigo.auth.errors import RefreshTokenError
from tachigo.auth.refresh import (
    RefreshOutcome,
    check_token_shape,
    classify,
    hash_token,
    refresh_error,
)

LIVE = {
    "revoked": False,
    "rotated": False,
    "within_grace": None,
    "expired": False,
    "user_active": True,
}


@pytest.mark.parametrize(
    ("row", "outcome"),
    [
        (None, RefreshOutcome.UNKNOWN),
        (LIVE, RefreshOutcome.ROTATED),
        (LIVE | {"revoked": True, "rotated": True}, RefreshOutcome.REVOKED),
        (LIVE | {"rotated": True, "within_grace": True}, RefreshOutcome.SUPERSEDED),
        (LIVE | {"rotated": True, "within_grace": False}, RefreshOutcome.REUSED),
        (
            LIVE | {"rotated": True, "within_grace": False, "expired": True},
            RefreshOutcome.REUSED,
        ),
        (LIVE | {"expired": True}, RefreshOutcome.EXPIRED),
        (LIVE | {"user_active": False}, RefreshOutcome.USER_INACTIVE),
    ],
)
def test_classify_decides_each_case(
    row: dict[str, Any] | None, outcome: RefreshOutcome
) -> None:
    assert classify(row) is outcome


def test_errors_name_the_case_clients_act_on() -> None:
    assert refresh_error(RefreshOutcome.REUSED).code == "refresh_token_reused"
    assert refresh_error(RefreshOutcome.SUPERSEDED).code == "refresh_token_superseded"
    assert refresh_error(RefreshOutcome.EXPIRED).code == "invalid_refresh_token"
    assert refresh_error(RefreshOutcome.UNKNOWN).status == 401


@pytest.mark.parametrize("token", ["", "abc", "g" * 64, "A" * 64, "0" * 63, "0" * 65])
def test_tokens_of_the_wrong_shape_are_refused_before_any_lookup(token: str) -> None:
    with pytest.raises(RefreshTokenError):
        check_token_shape(token)


def test_hash_is_sha256() -> None:
    assert hash_token("abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
