"""EIP-4361 parsing and relying-party checks, table-driven, plus a round-trip
property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given
from hypothesis import strategies as st

from tachigo.auth import siwe
from tachigo.auth.errors import SiweError
from tachigo.auth.settings import SiweSettings
from tachigo.errors import ValidationError

SETTINGS = SiweSettings(
    domain="app.tachigo.test",
    scheme="https",
    uri="https://app.tachigo.test/wallet",
    chain_ids=[31337, 11155111],
)
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
WALLET = Account.from_key("0x" + "11" * 32)


def message(**fields: str | None) -> str:
    values: dict[str, str | None] = {
        "header": "https://app.tachigo.test",
        "address": WALLET.address,
        "statement": "Sign in to Tachigo",
        "uri": "https://app.tachigo.test/wallet",
        "version": "1",
        "chain": "31337",
        "nonce": "abcdef0123456789",
        "issued": "2026-05-01T11:59:00Z",
        "expires": None,
        "not_before": None,
    } | fields
    lines = [
        f"{values['header']} wants you to sign in with your Ethereum account:",
        str(values["address"]),
        "",
    ]
    lines += [str(values["statement"]), ""] if values["statement"] is not None else [""]
    lines += [
        f"URI: {values['uri']}",
        f"Version: {values['version']}",
        f"Chain ID: {values['chain']}",
        f"Nonce: {values['nonce']}",
        f"Issued At: {values['issued']}",
    ]
    if values["expires"]:
        lines.append(f"Expiration Time: {values['expires']}")
    if values["not_before"]:
        lines.append(f"Not Before: {values['not_before']}")
    return "\n".join(lines)


def signed(text: str, account: object = WALLET) -> str:
    sig = Account.sign_message(encode_defunct(text=text), account.key)  # type: ignore[attr-defined]
    return "0x" + bytes(sig.signature).hex()


def test_parse_reads_every_field() -> None:
    text = message(
        expires="2026-05-01T12:05:00.123456789Z", not_before="2026-05-01T11:58:00Z"
    )

    parsed = siwe.parse_message(
        text + "\nRequest ID: r-1\nResources:\n- https://a.test/x"
    )

    assert parsed.scheme == "https" and parsed.domain == "app.tachigo.test"
    assert parsed.address == WALLET.address
    assert parsed.statement == "Sign in to Tachigo"
    assert parsed.chain_id == 31337 and parsed.nonce == "abcdef0123456789"
    assert parsed.issued_at == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)
    assert parsed.expiration_time == datetime(2026, 5, 1, 12, 5, 0, 123456, tzinfo=UTC)
    assert parsed.request_id == "r-1"
    assert parsed.resources == ("https://a.test/x",)


def test_parse_accepts_a_message_without_statement_or_scheme() -> None:
    parsed = siwe.parse_message(message(statement=None, header="app.tachigo.test"))

    assert parsed.statement is None
    assert parsed.scheme is None


MALFORMED = {
    "lowercase address": message(address=WALLET.address.lower()),
    "bad checksum": message(
        address=WALLET.address[:-1] + ("a" if WALLET.address[-1] != "a" else "b")
    ),
    "short address": message(address="0x1234"),
    "version 2": message(version="2"),
    "chain id zero": message(chain="0"),
    "chain id text": message(chain="sepolia"),
    "short nonce": message(nonce="abc123"),
    "nonce symbols": message(nonce="abcd-efgh-ijkl"),
    "time without zone": message(issued="2026-05-01T11:59:00"),
    "time words": message(issued="yesterday"),
    "expiration never": message(expires="never"),
    "not before junk": message(not_before="2026-13-45T99:00:00Z"),
    "uri relative": message(uri="/wallet"),
    "crlf": message().replace("\n", "\r\n"),
    "missing nonce": message().replace("Nonce: abcdef0123456789\n", ""),
    "swapped fields": message().replace(
        "Version: 1\nChain ID: 31337", "Chain ID: 31337\nVersion: 1"
    ),
    "trailing junk": message() + "\nhello",
    "bad resource": message() + "\nResources:\n- not a uri",
    "header": message().replace(" wants you", " would like you"),
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_parse_refuses_malformed_messages(name: str) -> None:
    with pytest.raises(SiweError) as raised:
        siwe.parse_message(MALFORMED[name])

    assert raised.value.code == "siwe_malformed"
    assert raised.value.status == 400


REFUSED = {
    "other domain": (message(header="https://evil.test"), "siwe_wrong_domain"),
    "other scheme": (message(header="http://app.tachigo.test"), "siwe_wrong_domain"),
    "no scheme is https": (message(header="app.tachigo.test"), None),
    "other uri": (message(uri="https://app.tachigo.test/other"), "siwe_wrong_uri"),
    "other chain": (message(chain="1"), "siwe_wrong_chain"),
    "sepolia allowed": (message(chain="11155111"), None),
    "expired": (message(expires="2026-05-01T11:59:59Z"), "siwe_expired"),
    "expires exactly now": (message(expires="2026-05-01T12:00:00Z"), "siwe_expired"),
    "old issued-at": (message(issued="2026-05-01T11:54:59Z"), "siwe_expired"),
    "future issued-at": (message(issued="2026-05-01T12:01:00Z"), "siwe_not_yet_valid"),
    "small skew ok": (message(issued="2026-05-01T12:00:20Z"), None),
    "not before later": (
        message(not_before="2026-05-01T12:05:00Z"),
        "siwe_not_yet_valid",
    ),
    "not before past": (message(not_before="2026-05-01T11:00:00Z"), None),
    "offset zone": (message(issued="2026-05-01T13:59:00+02:00"), None),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_verify_applies_origin_chain_and_time_rules(name: str) -> None:
    text, code = REFUSED[name]

    if code is None:
        assert (
            siwe.verify_message(text, signed(text), SETTINGS, now=NOW).address
            == WALLET.address
        )
        return
    with pytest.raises(SiweError) as raised:
        siwe.verify_message(text, signed(text), SETTINGS, now=NOW)
    assert raised.value.code == code


def test_verify_refuses_other_signers_and_bad_signatures() -> None:
    text = message()
    other = Account.from_key("0x" + "22" * 32)
    for signature in (
        signed(text, other),
        "0x" + "00" * 65,
        "0x1234",
        signed(text)[:-2] + "05",
        "zz" * 65,
    ):
        with pytest.raises(SiweError) as raised:
            siwe.verify_message(text, signature, SETTINGS, now=NOW)
        assert raised.value.code == "siwe_invalid_signature"


def test_verify_accepts_v_of_zero_or_one() -> None:
    text = message()
    raw = bytes.fromhex(signed(text)[2:])
    low_v = raw[:-1] + bytes([raw[-1] - 27])

    assert (
        siwe.verify_message(text, "0x" + low_v.hex(), SETTINGS, now=NOW).address
        == WALLET.address
    )


def test_verify_refuses_oversized_messages() -> None:
    text = message(statement="x" * 5000)

    with pytest.raises(SiweError):
        siwe.verify_message(text, signed(text), SETTINGS, now=NOW)


def test_normalize_address_checks_shape_and_checksum() -> None:
    assert siwe.normalize_address(WALLET.address.lower()) == WALLET.address
    assert siwe.normalize_address("0x" + WALLET.address[2:].upper()) == WALLET.address
    for bad in ("0x123", "hello", WALLET.address[:-1] + "G"):
        with pytest.raises(ValidationError):
            siwe.normalize_address(bad)
    flipped = WALLET.address[:2] + "".join(
        c.lower() if c.isupper() else c.upper() for c in WALLET.address[2:]
    )
    if flipped[2:] not in (flipped[2:].lower(), flipped[2:].upper()):
        with pytest.raises(ValidationError):
            siwe.normalize_address(flipped)


@given(
    private_key=st.binary(min_size=32, max_size=32).filter(
        lambda b: 0 < int.from_bytes(b, "big") < 2**256 - 2**140
    ),
    nonce=st.text(alphabet="abcdefABCDEF0123456789xyz", min_size=8, max_size=64),
    minutes=st.integers(min_value=1, max_value=60),
)
def test_built_messages_parse_back_to_their_fields(
    private_key: bytes, nonce: str, minutes: int
) -> None:
    address = Account.from_key(private_key).address
    issued = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    text = siwe.build_message(
        SETTINGS,
        address=address,
        nonce=nonce,
        issued_at=issued,
        expiration_time=issued + timedelta(minutes=minutes),
    )
    parsed = siwe.parse_message(text)

    assert (
        parsed.address,
        parsed.nonce,
        parsed.domain,
        parsed.uri,
        parsed.chain_id,
    ) == (address, nonce, SETTINGS.domain, SETTINGS.uri, SETTINGS.chain_ids[0])
    assert parsed.issued_at == issued
    assert parsed.expiration_time == issued + timedelta(minutes=minutes)
