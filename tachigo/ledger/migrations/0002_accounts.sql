-- Accounts and sign-in (DESIGN section 8): passwords, refresh-token families, email
-- tokens, SIWE nonces, shipping addresses, role audit. Secrets are stored only as
-- SHA-256 digests (tokens) or argon2id hashes (passwords).

-- Emails are stored trimmed and lower-cased, so uniqueness is case-insensitive (the Go
-- service compared them case-sensitively). Soft-deleted users free their email.
ALTER TABLE users
    ADD COLUMN email          text CHECK (email IS NULL
                              OR (email = lower(email) AND length(email) BETWEEN 3 AND 254)),
    ADD COLUMN password_hash  text CHECK (password_hash IS NULL
                              OR password_hash LIKE '$argon2id$%'),
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
    ADD COLUMN avatar_url     text CHECK (avatar_url IS NULL OR length(avatar_url) <= 2048),
    ADD COLUMN deleted_at     timestamptz;
CREATE UNIQUE INDEX users_email ON users (email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_username_folded ON users (lower(username));
CREATE INDEX users_role ON users (role) WHERE role <> 'viewer';

ALTER TABLE auth_providers
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- One active wallet per user; one active owner per wallet is auth_providers_identity.
CREATE UNIQUE INDEX auth_providers_one_wallet ON auth_providers (user_id)
    WHERE provider = 'web3' AND deleted_at IS NULL;

-- Opaque refresh tokens. Each use rotates: the row gets rotated_at and a successor in
-- the same family. Presenting a rotated token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id             uuid PRIMARY KEY,
    family_id      uuid NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    rotated_at     timestamptz,
    replaced_by    uuid,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN
                   ('logout', 'reuse', 'password_reset')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_live ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Single-use links mailed for email verification and password reset. ``email`` pins
-- the address the link was sent to: changing the email voids older links.
CREATE TABLE email_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email      text NOT NULL,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expiry ON email_tokens (expires_at);

-- EIP-4361 nonces: issued for one address, consumed (deleted) by the first valid
-- signature, dead after five minutes.
CREATE TABLE siwe_nonces (
    nonce      text PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9]{8,128}$'),
    address    text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX siwe_nonces_expiry ON siwe_nonces (expires_at);

CREATE TABLE shipping_addresses (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_name text NOT NULL CHECK (length(recipient_name) BETWEEN 1 AND 100),
    phone          text NOT NULL DEFAULT '' CHECK (length(phone) <= 20),
    address_line1  text NOT NULL CHECK (length(address_line1) BETWEEN 1 AND 255),
    address_line2  text NOT NULL DEFAULT '' CHECK (length(address_line2) <= 255),
    city           text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    district       text NOT NULL DEFAULT '' CHECK (length(district) <= 100),
    postal_code    text NOT NULL DEFAULT '' CHECK (length(postal_code) <= 20),
    country        text NOT NULL DEFAULT 'TW' CHECK (length(country) BETWEEN 1 AND 50),
    is_default     boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE INDEX shipping_addresses_user ON shipping_addresses (user_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX shipping_addresses_one_default ON shipping_addresses (user_id)
    WHERE is_default AND deleted_at IS NULL;

-- Channel ownership has one source of truth: channels.owner_user_id (the streamer) and
-- channels.agency_user_id (its agency). streamer_id is the Go service's streamer row id;
-- the trigger gives each (owner, channel) pairing a fresh one, whoever writes the owner.
ALTER TABLE channels
    ADD COLUMN streamer_id uuid UNIQUE,
    ADD COLUMN owner_since timestamptz;

CREATE FUNCTION channels_track_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.owner_user_id IS DISTINCT FROM OLD.owner_user_id THEN
        IF NEW.owner_user_id IS NULL THEN
            NEW.streamer_id := NULL;
            NEW.owner_since := NULL;
        ELSE
            NEW.streamer_id := gen_random_uuid();
            NEW.owner_since := now();
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER channels_owner_identity
    BEFORE INSERT OR UPDATE OF owner_user_id ON channels
    FOR EACH ROW EXECUTE FUNCTION channels_track_owner();

-- Who changed whose role, when and why. Append-only like the journal.
CREATE TABLE role_changes (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    old_role   text CHECK (old_role IN ('viewer', 'streamer', 'agency', 'admin')),
    new_role   text NOT NULL CHECK (new_role IN ('viewer', 'streamer', 'agency', 'admin')),
    changed_by uuid REFERENCES users (id),
    reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX role_changes_user ON role_changes (user_id, created_at);

CREATE FUNCTION role_changes_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'role_changes is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER role_changes_append_only
    BEFORE UPDATE OR DELETE ON role_changes
    FOR EACH ROW EXECUTE FUNCTION role_changes_refuse_change();
