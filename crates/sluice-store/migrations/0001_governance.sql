-- Governance records and spend. One SQL text serves SQLite and PostgreSQL:
-- only TEXT, BIGINT and BOOLEAN columns, no serial ids, no backend-specific syntax.
-- Money is BIGINT nanodollars (USD x 1e9); times are BIGINT unix seconds.
-- `source` says who owns a row: 'config' (the YAML file, replaced on reload) or 'api'.

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    metadata    TEXT,
    source      TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api'))
);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    customer_id TEXT REFERENCES customers (id),
    name        TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    source      TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api'))
);
CREATE INDEX teams_customer_idx ON teams (customer_id);

CREATE TABLE virtual_keys (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    key_hash          TEXT NOT NULL UNIQUE,
    display_prefix    TEXT NOT NULL,
    team_id           TEXT REFERENCES teams (id),
    customer_id       TEXT REFERENCES customers (id),
    disabled          BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at        BIGINT,
    allowed_models    TEXT,
    allowed_providers TEXT,
    created_at        BIGINT NOT NULL,
    source            TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api'))
);
CREATE INDEX virtual_keys_team_idx ON virtual_keys (team_id);
CREATE INDEX virtual_keys_customer_idx ON virtual_keys (customer_id);

-- `owner` names a customer, team or key id, a provider name or a target id, depending on
-- `level`; it is not a foreign key because providers and targets live in the config.
CREATE TABLE budgets (
    id          TEXT PRIMARY KEY,
    level       TEXT NOT NULL CHECK (level IN ('customer', 'team', 'key', 'provider', 'target')),
    owner       TEXT NOT NULL,
    limit_nanos BIGINT NOT NULL CHECK (limit_nanos >= 0),
    period      TEXT NOT NULL,
    alignment   TEXT NOT NULL CHECK (alignment IN ('calendar', 'rolling')),
    anchor      BIGINT NOT NULL DEFAULT 0,
    source      TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api'))
);
CREATE INDEX budgets_owner_idx ON budgets (level, owner);

CREATE TABLE rate_limits (
    id          TEXT PRIMARY KEY,
    level       TEXT NOT NULL CHECK (level IN ('customer', 'team', 'key', 'provider', 'target')),
    owner       TEXT NOT NULL,
    requests    BIGINT CHECK (requests >= 0),
    tokens      BIGINT CHECK (tokens >= 0),
    window_secs BIGINT NOT NULL CHECK (window_secs > 0),
    concurrent  BIGINT CHECK (concurrent >= 0),
    source      TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api'))
);
CREATE INDEX rate_limits_owner_idx ON rate_limits (level, owner);

-- Spend per budget window. No foreign key to budgets: spend already made must be storable
-- even if the budget was removed from the config in the meantime, or the spend writer
-- would retry a batch that can never succeed.
CREATE TABLE budget_spend (
    budget_id    TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    spent_nanos  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, window_start)
);

-- The ledger, aggregated per UTC day and dimension. Absent key/team/customer are stored as
-- '' rather than NULL, because NULLs never collide in a primary key and the upsert-add
-- would then insert duplicates instead of adding. No foreign keys: the ledger is history.
CREATE TABLE spend_ledger (
    day                 TEXT NOT NULL,
    key_id              TEXT NOT NULL DEFAULT '',
    team_id             TEXT NOT NULL DEFAULT '',
    customer_id         TEXT NOT NULL DEFAULT '',
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    requests            BIGINT NOT NULL DEFAULT 0,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    cost_nanos          BIGINT NOT NULL DEFAULT 0,
    saved_nanos         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, key_id, team_id, customer_id, provider, model)
);
