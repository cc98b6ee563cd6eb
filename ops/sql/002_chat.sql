-- 002: conversations, their messages, and the per-call records of the chat
-- assistant (agent_logs) and of every model call (model_metrics).

CREATE TABLE IF NOT EXISTS conversations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid,                           -- NULL: an anonymous visitor
    title      text NOT NULL DEFAULT '',
    channel    text NOT NULL DEFAULT 'chat',
    status     text NOT NULL DEFAULT 'active'
               CHECK (status IN ('active', 'completed', 'archived')),
    metadata   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
) WITH (fillfactor = 90); -- room for the HOT update of updated_at after each answer
CREATE INDEX IF NOT EXISTS conversations_user_newest
    ON conversations (user_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS conversations_created ON conversations (created_at);

CREATE TABLE IF NOT EXISTS messages (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role              text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content           text NOT NULL,
    model             text,
    tokens_in         integer,
    tokens_out        integer,
    latency_ms        integer,
    -- a client's Idempotency-Key, unique per caller (scope: user or address)
    idempotency_key   text,
    idempotency_scope text,
    reply_to          uuid REFERENCES messages (id) ON DELETE CASCADE,
    status            text NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'partial')),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency
    ON messages (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- at most one answer per user message, whoever writes it
CREATE UNIQUE INDEX IF NOT EXISTS messages_one_reply ON messages (reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE IF NOT EXISTS agent_logs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_type      text NOT NULL,
    conversation_id uuid REFERENCES conversations (id) ON DELETE SET NULL,
    action          text NOT NULL,
    status          text NOT NULL CHECK (status IN ('success', 'error', 'partial')),
    latency_ms      integer NOT NULL,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS agent_logs_created ON agent_logs (created_at);
CREATE INDEX IF NOT EXISTS agent_logs_type_created ON agent_logs (agent_type, created_at);

CREATE TABLE IF NOT EXISTS model_metrics (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_name  text NOT NULL,
    task_type   text NOT NULL,
    status      text NOT NULL CHECK (status IN ('success', 'error')),
    latency_ms  integer NOT NULL,
    tokens_in   integer NOT NULL DEFAULT 0,
    tokens_out  integer NOT NULL DEFAULT 0,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS model_metrics_created ON model_metrics (created_at);
CREATE INDEX IF NOT EXISTS model_metrics_model_created ON model_metrics (model_name, created_at);
