"""What every handler can reach: settings, the Postgres pool, the Kafka producer,
caches.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from tachigo.auth import accounts
from tachigo.auth.tokens import Principal
from tachigo.kafka.producer import RecordProducer
from tachigo.settings import Settings

# Bounds for the in-process caches; both are refilled from Postgres on a miss.
_CACHE_ENTRIES_MAX = 200_000


@dataclass
class AppContext:
    settings: Settings
    pool: asyncpg.Pool
    producer: RecordProducer
    _channels: dict[str, tuple[bool, float]] = field(default_factory=dict)
    _twitch_users: dict[str, uuid.UUID] = field(default_factory=dict)
    _tokens: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _users: dict[uuid.UUID, tuple[bool, float]] = field(default_factory=dict)

    async def is_active_user(self, user_id: uuid.UUID) -> bool:
        """Whether the user exists and is active; answers are cached
        ``user_cache_s`` (60 s) so a deactivation stops earning within a minute."""
        now = time.monotonic()
        cached = self._users.get(user_id)
        if cached is not None and now - cached[1] < self.settings.api.user_cache_s:
            return cached[0]
        active = bool(
            await self.pool.fetchval(
                "SELECT is_active FROM users WHERE id = $1 AND deleted_at IS NULL",
                user_id,
            )
        )
        if len(self._users) >= _CACHE_ENTRIES_MAX:
            self._users.clear()
        self._users[user_id] = (active, now)
        return active

    def verified_token(self, token: str) -> Principal | None:
        """The principal of a token verified earlier, while it has not expired."""
        found = self._tokens.get(token)
        if found is None or found[1] <= time.time():
            return None
        return found[0]

    def remember_token(
        self, token: str, found: Principal, *, expires_at_s: object
    ) -> None:
        if not isinstance(expires_at_s, int | float):
            return
        if len(self._tokens) >= _CACHE_ENTRIES_MAX:
            self._tokens.clear()
        self._tokens[token] = (found, float(expires_at_s))

    async def channel_exists(self, channel_id: str) -> bool:
        """Whether a channel is registered; answers are cached ``channel_cache_s``."""
        now = time.monotonic()
        cached = self._channels.get(channel_id)
        if cached is not None and now - cached[1] < self.settings.api.channel_cache_s:
            return cached[0]
        exists = bool(
            await self.pool.fetchval(
                "SELECT 1 FROM channels WHERE channel_id = $1", channel_id
            )
        )
        if len(self._channels) >= _CACHE_ENTRIES_MAX:
            self._channels.clear()
        self._channels[channel_id] = (exists, now)
        return exists

    async def twitch_user(self, twitch_user_id: str) -> uuid.UUID:
        """Map a Twitch user id to our user, creating the account on first sight."""
        found = self._twitch_users.get(twitch_user_id)
        if found is None:
            found = await accounts.resolve_provider_user(
                self.pool, "twitch", twitch_user_id
            )
            if len(self._twitch_users) >= _CACHE_ENTRIES_MAX:
                self._twitch_users.clear()
            self._twitch_users[twitch_user_id] = found
        return found


CONTEXT_KEY = web.AppKey("tachigo_context", AppContext)


def context(request: web.Request) -> AppContext:
    return request.app[CONTEXT_KEY]
