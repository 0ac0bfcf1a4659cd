"""Long-lived helpers of the sign-in routes: the HTTP client for OAuth providers, their
JWKS caches and the mail queue. The web app starts and stops them with itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from tachigo.auth.mail import MailQueue, create_sender
from tachigo.auth.oauth import JwksCache
from tachigo.auth.settings import AccountsSettings

# Outbound connections to OAuth providers, across all of them.
_HTTP_CONNECTIONS_MAX = 32


@dataclass
class AuthServices:
    http: aiohttp.ClientSession
    mail: MailQueue
    jwks: dict[str, JwksCache] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: AccountsSettings) -> AuthServices:
        """Open the HTTP client and start the mail task (call inside the event loop)."""
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=_HTTP_CONNECTIONS_MAX),
            timeout=aiohttp.ClientTimeout(total=settings.oauth.http_timeout_s),
            raise_for_status=False,
        )
        mail = MailQueue(settings.mail, create_sender(settings.mail))
        mail.start()
        return cls(http=http, mail=mail)

    async def stop(self) -> None:
        """Flush the mail queue within its grace period, then close the HTTP client."""
        await self.mail.stop()
        await self.http.close()
