"""The hash-chained audit trail, outbound mail and the in-app inbox.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(AUDIT)
    op.execute(MAIL)
    op.execute(INBOX)


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE notifications, outbound_mail;
        DROP FUNCTION audit_event_hash(audit_events);
        DROP TABLE audit_events, audit_chain_head;
        DROP FUNCTION audit_events_chain(), audit_chain_advance(), audit_forbid_change(),
            audit_head_guard(), audit_field(bytea);
        """
    )


AUDIT = r"""
-- One record per security or money action. Rows are never changed or removed: the triggers
-- below refuse it, and each row's `hash` covers the previous row's, so an edit made with the
-- triggers switched off still shows (`finhub audit verify`).
CREATE TABLE audit_events (
    seq             bigint      NOT NULL UNIQUE,
    id              text        PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    action          text        NOT NULL
                    CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'
                           AND length(action) <= 100),
    outcome         text        NOT NULL CHECK (outcome ~ '^[a-z][a-z_]{0,31}$'),
    actor_type      text        NOT NULL
                    CHECK (actor_type IN ('user', 'staff', 'api_key', 'system', 'anonymous')),
    actor_id        text,
    subject_user_id text,
    organization_id text,
    ip              inet,
    user_agent      text,
    request_id      text,
    object_type     text,
    object_id       text,
    before          jsonb,
    after           jsonb,
    details         jsonb,
    prev_hash       bytea       NOT NULL,
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_events_subject ON audit_events (subject_user_id, seq)
    WHERE subject_user_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_organization ON audit_events (organization_id, seq)
    WHERE organization_id IS NOT NULL;
CREATE INDEX audit_events_object ON audit_events (object_type, object_id, seq)
    WHERE object_id IS NOT NULL;
CREATE INDEX audit_events_action ON audit_events (action text_pattern_ops, seq);
CREATE INDEX audit_events_request ON audit_events (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX audit_events_time ON audit_events (occurred_at);

-- The end of the chain as of the last commit: one row, locked by a transaction's first record
-- until it commits.
CREATE TABLE audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint  NOT NULL,
    hash      bytea   NOT NULL
);
INSERT INTO audit_chain_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- A field of the canonical form: 0x00 for NULL, else 0x01, a 4-byte length and the bytes, so
-- no two different records share an encoding (NULL differs from '', fields can't run together).
CREATE FUNCTION audit_field(value bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '\x00'::bytea
                ELSE '\x01'::bytea || int4send(octet_length(value)) || value END
$$;

-- The record's hash: sha256(prev_hash || canonical bytes). Only stored columns go in, with
-- timestamps as integer microseconds since the epoch, so it does not depend on the session's
-- time zone. The insert trigger and the verifier both use this one function.
CREATE FUNCTION audit_event_hash(e audit_events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(
        e.prev_hash
        || convert_to('finhub-audit-v1', 'UTF8')
        || audit_field(int8send(e.seq))
        || audit_field(convert_to(e.id, 'UTF8'))
        || audit_field(int8send((extract(epoch FROM e.occurred_at) * 1000000)::bigint))
        || audit_field(convert_to(e.action, 'UTF8'))
        || audit_field(convert_to(e.outcome, 'UTF8'))
        || audit_field(convert_to(e.actor_type, 'UTF8'))
        || audit_field(convert_to(e.actor_id, 'UTF8'))
        || audit_field(convert_to(e.subject_user_id, 'UTF8'))
        || audit_field(convert_to(e.organization_id, 'UTF8'))
        || audit_field(convert_to(e.ip::text, 'UTF8'))
        || audit_field(convert_to(e.user_agent, 'UTF8'))
        || audit_field(convert_to(e.request_id, 'UTF8'))
        || audit_field(convert_to(e.object_type, 'UTF8'))
        || audit_field(convert_to(e.object_id, 'UTF8'))
        || audit_field(convert_to(e.before::text, 'UTF8'))
        || audit_field(convert_to(e.after::text, 'UTF8'))
        || audit_field(convert_to(e.details::text, 'UTF8'))
    )
$$;

-- Links each new record to the one before. A transaction's first record locks the head row
-- (held until commit, so writers take turns and the chain stays gap-free in commit order); the
-- transaction's own later records continue from its last one, remembered in a transaction-local
-- setting (reverted with a rolled-back savepoint, like the rows). Whatever the inserter sent for
-- seq and the hashes is replaced, so only this trigger extends the chain.
CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_of_transaction text := current_setting('finhub.audit_last', true);
    previous_seq bigint;
    previous_hash bytea;
BEGIN
    IF coalesce(last_of_transaction, '') = '' THEN
        SELECT seq, hash INTO STRICT previous_seq, previous_hash
        FROM audit_chain_head FOR UPDATE;
    ELSE
        previous_seq := split_part(last_of_transaction, ':', 1)::bigint;
        previous_hash := decode(split_part(last_of_transaction, ':', 2), 'hex');
    END IF;
    NEW.seq := previous_seq + 1;
    NEW.prev_hash := previous_hash;
    NEW.hash := audit_event_hash(NEW);
    PERFORM set_config('finhub.audit_last', NEW.seq || ':' || encode(NEW.hash, 'hex'), true);
    RETURN NEW;
END $$;

-- Moves the head to the transaction's last record, once, as the transaction commits. (Updating
-- the head row for every record would leave a version per record for each later lookup in the
-- same transaction to step over: quadratic in the records of one transaction.)
CREATE FUNCTION audit_chain_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq = split_part(current_setting('finhub.audit_last', true), ':', 1)::bigint THEN
        UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION audit_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'FH001';
END $$;

-- The head moves only from inside the chain's own trigger (trigger depth 2).
CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head only moves when an event is recorded: % refused',
        TG_OP USING ERRCODE = 'FH001';
END $$;

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();
CREATE CONSTRAINT TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_chain_advance();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_forbid_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid_change();
CREATE TRIGGER audit_chain_head_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard();
"""

MAIL = r"""
-- Every message finhub sends. `queued` rows are due at `next_attempt_at`; a failed attempt
-- pushes it back exponentially until `failed`. With no SMTP server configured, mail is `kept`
-- here as the local dev mailbox.
CREATE TABLE outbound_mail (
    id              text        PRIMARY KEY,
    to_address      text        NOT NULL CHECK (to_address ~ '^[^\s@]+@[^\s@]+$'
                                                AND length(to_address) <= 320),
    subject         text        NOT NULL CHECK (length(subject) <= 998
                                                AND subject !~ '[\r\n]'),
    text_body       text        NOT NULL,
    html_body       text,
    tag             text        NOT NULL CHECK (tag ~ '^[a-z][a-z0-9_.]{0,63}$'),
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'failed', 'kept')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CHECK ((status = 'queued') = (next_attempt_at IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX outbound_mail_due ON outbound_mail (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbound_mail_recipient ON outbound_mail (lower(to_address), id);
"""

INBOX = r"""
-- A person's in-app inbox. Ids are time-sortable, so newest first is `ORDER BY id DESC`.
CREATE TABLE notifications (
    id         text        PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES users (id),
    kind       text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    title      text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text        NOT NULL CHECK (length(body) <= 4000),
    data       jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_inbox ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;
"""
