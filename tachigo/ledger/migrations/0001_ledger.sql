-- Core ledger schema: users, channels, the dual-balance accounts, holds and the
-- append-only journal (DESIGN section 5). Points are BIGINT; never floats.

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    username     text UNIQUE,
    display_name text,
    role         text NOT NULL DEFAULT 'viewer'
                 CHECK (role IN ('viewer', 'streamer', 'agency', 'admin')),
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- How an outside identity (a Twitch user id, an email, a wallet) maps to our user.
CREATE TABLE auth_providers (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider    text NOT NULL CHECK (provider IN ('twitch', 'google', 'email', 'web3', 'replay')),
    provider_id text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX auth_providers_identity ON auth_providers (provider, provider_id)
    WHERE deleted_at IS NULL;
CREATE INDEX auth_providers_user ON auth_providers (user_id);

-- A channel and its earn settings (DESIGN section 4). channel_id is the Twitch
-- broadcaster id. The worker learns setting changes through Kafka control records.
CREATE TABLE channels (
    channel_id          text PRIMARY KEY CHECK (length(channel_id) BETWEEN 1 AND 64),
    display_name        text,
    owner_user_id       uuid REFERENCES users (id),
    agency_user_id      uuid REFERENCES users (id),
    seconds_per_point   integer NOT NULL DEFAULT 60 CHECK (seconds_per_point >= 1),
    multiplier          integer NOT NULL DEFAULT 1 CHECK (multiplier BETWEEN 0 AND 1000),
    daily_cap_points    bigint  NOT NULL DEFAULT 0 CHECK (daily_cap_points >= 0),
    require_live        boolean NOT NULL DEFAULT true,
    time_zone           text    NOT NULL DEFAULT 'UTC',
    daily_airdrop_limit bigint  NOT NULL DEFAULT 5000 CHECK (daily_airdrop_limit >= 0),
    click_boost         boolean NOT NULL DEFAULT false,
    ignored_user_ids    text[]  NOT NULL DEFAULT '{}',
    is_live             boolean NOT NULL DEFAULT false,
    stream_id           text,
    live_changed_at     timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_owner ON channels (owner_user_id);
CREATE INDEX channels_agency ON channels (agency_user_id);

-- Accounts global bot list: these users earn nothing on any path.
CREATE TABLE excluded_users (
    user_id    text PRIMARY KEY,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One account per (user, channel): spendable goes down on spends, cumulative never.
CREATE TABLE accounts (
    user_id    uuid   NOT NULL REFERENCES users (id),
    channel_id text   NOT NULL,
    spendable  bigint NOT NULL DEFAULT 0 CHECK (spendable >= 0),
    cumulative bigint NOT NULL DEFAULT 0 CHECK (cumulative >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel_id)
);
CREATE INDEX accounts_channel ON accounts (channel_id);

-- Points set aside (pending claims, escrowed bets, pending redemptions).
-- available = spendable - sum(active holds).
CREATE TABLE holds (
    id          uuid PRIMARY KEY,
    user_id     uuid   NOT NULL,
    channel_id  text   NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    kind        text   NOT NULL CHECK (kind IN ('claim', 'bet', 'redemption')),
    status      text   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'settled', 'released')),
    reference   text   NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    FOREIGN KEY (user_id, channel_id) REFERENCES accounts (user_id, channel_id),
    UNIQUE (kind, reference, user_id, channel_id)
);
CREATE INDEX holds_active ON holds (user_id, channel_id) WHERE status = 'active';

-- The journal. Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE ledger_entries (
    id               uuid PRIMARY KEY,
    -- Insert order; rows of one account are written under its row lock, so this is
    -- also the order of that account's balance-after chain.
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_id          uuid   NOT NULL,
    channel_id       text   NOT NULL,
    kind             text   NOT NULL CHECK (kind IN ('watch', 'click', 'bits', 'airdrop',
                     'bonus', 'spend', 'refund', 'bet', 'payout', 'claim', 'claim_refund',
                     'adjustment')),
    delta_spendable  bigint NOT NULL,
    delta_cumulative bigint NOT NULL CHECK (delta_cumulative >= 0),
    spendable_after  bigint NOT NULL CHECK (spendable_after >= 0),
    cumulative_after bigint NOT NULL CHECK (cumulative_after >= 0),
    watch_seconds    integer NOT NULL DEFAULT 0 CHECK (watch_seconds >= 0),
    bucket_start     timestamptz,
    idempotency_key  text   NOT NULL UNIQUE,
    request_hash     bytea  NOT NULL,
    reference        jsonb  NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (user_id, channel_id) REFERENCES accounts (user_id, channel_id)
);
CREATE INDEX ledger_entries_account ON ledger_entries (user_id, channel_id, seq DESC);
CREATE INDEX ledger_entries_channel_time ON ledger_entries (channel_id, created_at);
CREATE INDEX ledger_entries_channel_bucket ON ledger_entries (channel_id, bucket_start)
    WHERE kind = 'watch';

CREATE FUNCTION ledger_entries_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refuse_change();

-- Rejected heartbeats per channel, minute and reason (analytics; DESIGN section 9).
CREATE TABLE watch_rejections (
    channel_id text   NOT NULL,
    minute     timestamptz NOT NULL,
    reason     text   NOT NULL,
    count      bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (channel_id, minute, reason)
);

-- EventSub messages already processed, for dedupe of Twitch's at-least-once delivery.
CREATE TABLE eventsub_messages (
    message_id  text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
