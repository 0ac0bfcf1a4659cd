"""Sign-In with Ethereum (EIP-4361): strict message parsing, relying-party checks,
EIP-191 signature recovery with eth-account, and single-use nonces in Postgres.

The ``siwe`` package pins an older web3, so the checks live here. Only externally owned
accounts are supported; see the LIMIT note on ``recover_signer``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address
from eth_utils.exceptions import ValidationError as KeyValidationError

from tachigo.auth.errors import SiweError
from tachigo.auth.settings import SiweSettings
from tachigo.errors import ValidationError

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_AUTHORITY = re.compile(r"^[A-Za-z0-9.\-_~%!$&'()*+,;=:@\[\]]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8,128}$")
_CHAIN_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?([Zz]|[+\-]\d{2}:\d{2})$"
)
_SIGNATURE = re.compile(r"^(0x)?[0-9a-fA-F]{130}$")
# Field lines in the order EIP-4361 fixes; True marks the required ones.
_FIELDS = (
    ("URI", True),
    ("Version", True),
    ("Chain ID", True),
    ("Nonce", True),
    ("Issued At", True),
    ("Expiration Time", False),
    ("Not Before", False),
    ("Request ID", False),
)
# Nonces are 32 random bytes in hex, like the Go service's.
_NONCE_BYTES = 32
_PRUNE_ROWS_MAX = 1000


@dataclass(frozen=True, slots=True)
class SiweMessage:
    scheme: str | None
    domain: str
    address: str
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None
    not_before: datetime | None
    request_id: str | None
    resources: tuple[str, ...]


def malformed(reason: str) -> SiweError:
    return SiweError(
        f"SIWE message is malformed: {reason}; sign the message exactly as "
        "returned by POST /api/v1/auth/web3/nonce",
        code="siwe_malformed",
        status=400,
        reason=reason,
    )


def parse_time(value: str, field: str) -> datetime:
    """Parse an RFC 3339 date-time; anything else fails closed.

    Raises:
        SiweError: not RFC 3339 (``siwe_malformed``).
    """
    match = _RFC3339.match(value)
    if match is None:
        raise malformed(f"{field} is not an RFC 3339 date-time")
    fraction = match.group(1)
    text = value.upper()
    if fraction is not None:
        text = text.replace("." + fraction, "." + fraction[:6].ljust(6, "0"), 1)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise malformed(f"{field} is not a valid date-time") from error


def parse_header(line: str) -> tuple[str | None, str]:
    if not line.endswith(_HEADER_SUFFIX):
        raise malformed(
            "first line must end with 'wants you to sign in with your "
            "Ethereum account:'"
        )
    origin = line[: -len(_HEADER_SUFFIX)]
    scheme, sep, domain = origin.rpartition("://")
    if (sep and not _SCHEME.match(scheme)) or not _AUTHORITY.match(domain):
        raise malformed("domain is not an RFC 3986 authority")
    return (scheme if sep else None), domain


def parse_preamble(lines: list[str]) -> tuple[str | None, str, str, str | None, int]:
    """Return (scheme, domain, address, statement, index of the first field line)."""
    if len(lines) < 4:
        raise malformed("too few lines")
    scheme, domain = parse_header(lines[0])
    address = lines[1]
    if not is_hex_address(address) or not is_checksum_address(address):
        raise malformed("address must be an EIP-55 checksummed Ethereum address")
    if lines[2] != "":
        raise malformed("an empty line must follow the address")
    if lines[3] == "":
        return scheme, domain, address, None, 4
    if len(lines) < 5 or lines[4] != "":
        raise malformed("an empty line must follow the statement")
    return scheme, domain, address, lines[3], 5


def parse_fields(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """Read the ``Name: value`` lines in their fixed order; return them and the
    index of the next line."""
    values: dict[str, str] = {}
    index = start
    for name, required in _FIELDS:
        prefix = name + ": "
        if index < len(lines) and lines[index].startswith(prefix):
            values[name] = lines[index][len(prefix) :]
            index += 1
        elif required:
            raise malformed(f"missing '{name}:' line (or fields out of order)")
    return values, index


def parse_resources(lines: list[str], start: int) -> tuple[str, ...]:
    if start == len(lines):
        return ()
    if lines[start] != "Resources:":
        raise malformed(f"unexpected line {start + 1}")
    resources = []
    for line in lines[start + 1 :]:
        if not line.startswith("- ") or not _URI.match(line[2:]):
            raise malformed("each resource line must be '- <URI>'")
        resources.append(line[2:])
    return tuple(resources)


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message strictly (LF line ends, fixed field order).

    Raises:
        SiweError: any deviation from the grammar (``siwe_malformed``, status 400).
    """
    if "\r" in text:
        raise malformed("line ends must be LF only")
    lines = text.split("\n")
    scheme, domain, address, statement, index = parse_preamble(lines)
    fields, index = parse_fields(lines, index)
    resources = parse_resources(lines, index)
    if not _URI.match(fields["URI"]):
        raise malformed("URI is not an absolute URI")
    if fields["Version"] != "1":
        raise malformed("Version must be 1")
    if not _CHAIN_ID.match(fields["Chain ID"]):
        raise malformed("Chain ID must be a positive integer")
    if not _NONCE.match(fields["Nonce"]):
        raise malformed("Nonce must be 8 to 128 letters or digits")
    expires, not_before = fields.get("Expiration Time"), fields.get("Not Before")
    return SiweMessage(
        scheme=scheme,
        domain=domain,
        address=address,
        statement=statement,
        uri=fields["URI"],
        version="1",
        chain_id=int(fields["Chain ID"]),
        nonce=fields["Nonce"],
        issued_at=parse_time(fields["Issued At"], "Issued At"),
        expiration_time=parse_time(expires, "Expiration Time") if expires else None,
        not_before=parse_time(not_before, "Not Before") if not_before else None,
        request_id=fields.get("Request ID"),
        resources=resources,
    )


def check_origin(message: SiweMessage, settings: SiweSettings) -> None:
    """Domain, scheme, URI and chain must be ours.

    Raises:
        SiweError: ``siwe_wrong_domain``, ``siwe_wrong_uri`` or ``siwe_wrong_chain``.
    """
    # EIP-4361: a message without a scheme means https.
    scheme = (message.scheme or "https").lower()
    if message.domain.lower() != settings.domain.lower() or scheme != settings.scheme:
        raise SiweError(
            f"SIWE message is for {scheme}://{message.domain}, not "
            f"{settings.scheme}://{settings.domain}; sign in from the tachigo wallet "
            "page",
            code="siwe_wrong_domain",
        )
    if message.uri != settings.uri:
        raise SiweError(
            f"SIWE message URI {message.uri!r} is not {settings.uri!r}; sign "
            "the message returned by the nonce route",
            code="siwe_wrong_uri",
        )
    if message.chain_id not in settings.chain_ids:
        raise SiweError(
            f"SIWE message chain id {message.chain_id} is not one of "
            f"{settings.chain_ids}; switch the wallet's network",
            code="siwe_wrong_chain",
        )


def check_times(message: SiweMessage, settings: SiweSettings, now: datetime) -> None:
    """Issued-at must be recent; expiration and not-before are honoured when present.

    Raises:
        SiweError: ``siwe_expired`` or ``siwe_not_yet_valid``.
    """
    skew = timedelta(seconds=settings.clock_skew_s)
    age_max = timedelta(seconds=settings.issued_at_age_max_s)
    if message.expiration_time is not None and message.expiration_time <= now:
        raise SiweError(
            "SIWE message has expired; request a new nonce and sign again",
            code="siwe_expired",
        )
    if now - message.issued_at > age_max:
        raise SiweError(
            f"SIWE message was issued more than {settings.issued_at_age_max_s}"
            " s ago; request a new nonce and sign again",
            code="siwe_expired",
        )
    if message.issued_at > now + skew:
        raise SiweError(
            "SIWE message is issued in the future; check the device clock",
            code="siwe_not_yet_valid",
        )
    if message.not_before is not None and message.not_before > now + skew:
        raise SiweError(
            "SIWE message is not valid yet (Not Before); retry later",
            code="siwe_not_yet_valid",
        )


def recover_signer(text: str, signature: str) -> str:
    """Return the EIP-55 address that signed ``text`` with ``personal_sign``.

    Raises:
        SiweError: the signature is not 65 hex bytes or does not recover
            (``siwe_invalid_signature``).
    """
    # LIMIT(auth): contract wallets (ERC-1271/ERC-6492) are refused; they need an RPC
    # call on chain_id, and only EOAs can sign in until the chain client offers one.
    if not _SIGNATURE.match(signature):
        raise SiweError(
            "signature must be 65 bytes of hex (0x...)", code="siwe_invalid_signature"
        )
    try:
        signer = Account.recover_message(
            encode_defunct(text=text),
            signature=bytes.fromhex(signature.removeprefix("0x")),
        )
    # eth-keys raises its own exceptions (not ValueError) for points off the curve.
    except (ValueError, TypeError, BadSignature, KeyValidationError) as error:
        raise SiweError(
            "wallet signature does not verify; sign the message again",
            code="siwe_invalid_signature",
        ) from error
    return str(signer)


def verify_message(
    text: str, signature: str, settings: SiweSettings, *, now: datetime
) -> SiweMessage:
    """Parse and check a signed message; the nonce is left to ``consume_nonce``.

    Raises:
        SiweError: malformed, foreign origin, wrong chain, out of its time window, or a
            signature from another address.
    """
    if len(text.encode()) > settings.message_bytes_max:
        raise malformed(f"longer than {settings.message_bytes_max} bytes")
    message = parse_message(text)
    check_origin(message, settings)
    check_times(message, settings, now)
    if recover_signer(text, signature) != message.address:
        raise SiweError(
            "wallet signature was not made by the address in the message; "
            "sign with that wallet",
            code="siwe_invalid_signature",
        )
    return message


def normalize_address(address: str) -> str:
    """Return the EIP-55 form of a hex address.

    Raises:
        ValidationError: not a 20-byte hex address, or mixed case with a bad checksum.
    """
    if not is_hex_address(address):
        raise ValidationError(
            f"{address[:64]!r} is not an Ethereum address (0x + 40 hex)",
            code="invalid_wallet_address",
            status=400,
            field="address",
        )
    mixed = address[2:] != address[2:].lower() and address[2:] != address[2:].upper()
    if mixed and not is_checksum_address(address):
        raise ValidationError(
            "address has a wrong EIP-55 checksum; copy it from the wallet",
            code="invalid_wallet_address",
            status=400,
            field="address",
        )
    return str(to_checksum_address(address))


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_message(
    settings: SiweSettings,
    *,
    address: str,
    nonce: str,
    issued_at: datetime,
    expiration_time: datetime,
) -> str:
    """Return the EIP-4361 text the wallet should sign for this nonce."""
    lines = [f"{settings.scheme}://{settings.domain}{_HEADER_SUFFIX}", address, ""]
    if settings.statement:
        lines += [settings.statement, ""]
    else:
        lines += [""]
    lines += [
        f"URI: {settings.uri}",
        "Version: 1",
        f"Chain ID: {settings.chain_ids[0]}",
        f"Nonce: {nonce}",
        f"Issued At: {format_time(issued_at)}",
        f"Expiration Time: {format_time(expiration_time)}",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class IssuedNonce:
    nonce: str
    address: str
    issued_at: datetime
    expires_at: datetime
    message: str


async def issue_nonce(
    pool: asyncpg.Pool, settings: SiweSettings, address: str
) -> IssuedNonce:
    """Store a fresh nonce for ``address`` (EIP-55) and return the message to sign.

    Writes one ``siwe_nonces`` row and deletes up to 1000 expired ones. Older nonces of
    the address stay valid until they expire, so nobody can cancel someone's sign-in.
    """
    nonce = secrets.token_hex(_NONCE_BYTES)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM siwe_nonces WHERE ctid IN (SELECT ctid FROM siwe_nonces"
            " WHERE expires_at < now() LIMIT $1)",
            _PRUNE_ROWS_MAX,
        )
        row = await conn.fetchrow(
            "INSERT INTO siwe_nonces (nonce, address, expires_at) VALUES"
            " ($1, $2, date_trunc('second', now()) + make_interval(secs => $3))"
            " RETURNING date_trunc('second', created_at) AS issued_at, expires_at",
            nonce,
            address.lower(),
            settings.nonce_ttl_s,
        )
    message = build_message(
        settings,
        address=address,
        nonce=nonce,
        issued_at=row["issued_at"],
        expiration_time=row["expires_at"],
    )
    return IssuedNonce(nonce, address, row["issued_at"], row["expires_at"], message)


async def consume_nonce(conn: asyncpg.Connection, message: SiweMessage) -> None:
    """Delete the message's nonce inside the caller's transaction; it works once.

    Raises:
        SiweError: unknown, expired, already used, or issued for another address
            (``siwe_invalid_nonce``).
    """
    found = await conn.fetchval(
        "DELETE FROM siwe_nonces WHERE nonce = $1 AND address = $2"
        " AND expires_at > now() RETURNING 1",
        message.nonce,
        message.address.lower(),
    )
    if found is None:
        raise SiweError(
            "invalid or expired nonce; request a new one from "
            "POST /api/v1/auth/web3/nonce and sign again",
            code="siwe_invalid_nonce",
        )
