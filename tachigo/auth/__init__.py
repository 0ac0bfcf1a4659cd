"""Identity: tachigo access tokens, Twitch extension JWTs, principals and roles."""
