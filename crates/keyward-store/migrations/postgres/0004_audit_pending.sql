-- Audit records written in the transaction of the mutation they describe (issue #11), waiting to
-- be chained. On PostgreSQL a mutation inserts here instead of taking the chain head's lock; a
-- sequencer (any node, serialised by the head's row lock) moves them into `audit_log` in `id`
-- order shortly after commit, hashing each onto the chain. SQLite chains inside the mutation's own
-- transaction (one writer anyway) and leaves this table empty.
CREATE TABLE audit_pending (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    user_id     TEXT,
    username    TEXT,
    token_id    TEXT,
    client_addr TEXT,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    project     TEXT,
    object_kind TEXT,
    object_name TEXT,
    action      TEXT NOT NULL,
    status      BIGINT NOT NULL,
    outcome     TEXT NOT NULL
);
