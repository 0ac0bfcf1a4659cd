"""Identity and authorization: tachigo access and refresh tokens, Twitch extension
JWTs, email/password (argon2id), Twitch and Google OAuth, Sign-In with Ethereum, account
mails, roles and channel ownership, and the sign-in rate limiter. SQL for accounts lives
next to the code that needs it; nothing here imports ``aiohttp.web``."""
