-- The global bot list is the setting TACHIGO_WATCH__EXCLUDED_USER_IDS (ids of ours or
-- Twitch ids); this table was never read, so it goes rather than mislead.
DROP TABLE IF EXISTS excluded_users;
