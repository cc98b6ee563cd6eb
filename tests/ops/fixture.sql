-- tests/ops/fixture.sql: rows for every table in schema public, loaded by
-- tests/ops/backup-roundtrip.sh (as the superuser, with psql) before it backs
-- up, wipes and restores the database.
--
-- When you add a table, add rows for it here: the round-trip test fails on
-- any table in schema public that is still empty after this file ran, so a
-- new table can never silently escape the backup check. Use fixed keys and
-- ON CONFLICT DO NOTHING so the file can run twice on the same stack.
-- Exercise awkward content: quotes, backslashes, newlines, non-ASCII, JSON,
-- NULLs where allowed, time zones.
--
-- psql variable `rows` (default 10000): rows per bulk table
-- (tests/ops/backup-roundtrip.sh passes ROWS).
\set ON_ERROR_STOP 1
\if :{?rows}
\else
\set rows 10000
\endif

BEGIN;

-- schema_migrations is filled by `pixelcraft-api migrate`.

-- 001_user_profiles
INSERT INTO user_profiles (user_id, role, metadata, created_at)
SELECT md5('pixelcraft-fixture-' || i)::uuid,
       CASE WHEN i % 50 = 0 THEN 'admin' ELSE 'user' END,
       jsonb_build_object(
           'n', i,
           'name', format('user %s "double" ''single'' back\slash ü € 🎨', i),
           'note', E'line one\nline two\ttab',
           'tags', jsonb_build_array('fixture', i % 7, i % 3 = 0),
           'score', (i * 0.37)::numeric(10, 2),
           'empty', NULL),
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute 7.123456 seconds'
FROM generate_series(1, :rows) AS i
ON CONFLICT (user_id) DO NOTHING;

-- 002_chat: ROWS/2 conversations, each with a user message and the
-- assistant's reply to it (reply_to), so ROWS messages.
INSERT INTO conversations (id, user_id, title, channel, status, metadata, created_at, updated_at, deleted_at)
SELECT md5('pixelcraft-fixture-conversation-' || i)::uuid,
       CASE WHEN i % 10 = 0 THEN NULL ELSE md5('pixelcraft-fixture-' || (i % :rows + 1))::uuid END,
       format('Conversation %s: «pixels» & "colours"', i),
       CASE WHEN i % 3 = 0 THEN 'widget' ELSE 'chat' END,
       (ARRAY['active', 'completed', 'archived'])[i % 3 + 1],
       jsonb_build_object('page', '/pricing?plan=' || i, 'ua', E'Mozilla/5.0 (X11)\\'),
       timestamptz '2026-02-01 00:00:00+00' + i * interval '3 minutes',
       timestamptz '2026-02-01 00:00:00+00' + i * interval '3 minutes' + interval '90 seconds',
       CASE WHEN i % 97 = 0 THEN timestamptz '2026-03-01 12:00:00+01' END
FROM generate_series(1, :rows / 2) AS i
ON CONFLICT (id) DO NOTHING;

INSERT INTO messages (id, conversation_id, role, content, model, tokens_in, tokens_out, latency_ms,
                      idempotency_key, idempotency_scope, reply_to, status, created_at)
SELECT md5('pixelcraft-fixture-message-user-' || i)::uuid,
       md5('pixelcraft-fixture-conversation-' || i)::uuid,
       'user',
       format(E'Question %s: how do I export a sprite sheet as PNG?\nWith ''quotes'', "double", tab\tand ünïcødé 🎨', i),
       NULL, NULL, NULL, NULL,
       CASE WHEN i % 2 = 0 THEN 'idem-' || i END,
       CASE WHEN i % 2 = 0 THEN 'user:' || md5('pixelcraft-fixture-' || i) END,
       NULL, 'complete',
       timestamptz '2026-02-01 00:00:00+00' + i * interval '3 minutes' + interval '1 second'
FROM generate_series(1, :rows / 2) AS i
ON CONFLICT (id) DO NOTHING;

INSERT INTO messages (id, conversation_id, role, content, model, tokens_in, tokens_out, latency_ms,
                      reply_to, status, created_at)
SELECT md5('pixelcraft-fixture-message-assistant-' || i)::uuid,
       md5('pixelcraft-fixture-conversation-' || i)::uuid,
       'assistant',
       repeat(format('Answer %s: open File > Export, choose PNG, tick "sprite sheet". ', i), 1 + i % 8),
       'llama3.2:3b', 20 + i % 50, 100 + i % 400, 300 + i % 2000,
       md5('pixelcraft-fixture-message-user-' || i)::uuid,
       CASE WHEN i % 25 = 0 THEN 'partial' ELSE 'complete' END,
       timestamptz '2026-02-01 00:00:00+00' + i * interval '3 minutes' + interval '4 seconds'
FROM generate_series(1, :rows / 2) AS i
ON CONFLICT (id) DO NOTHING;

-- Identity columns: generated ids (so the sequences advance and the restore
-- must bring their positions back); inserted once per stack.
INSERT INTO agent_logs (agent_type, conversation_id, action, status, latency_ms, error, created_at)
SELECT (ARRAY['chat', 'router', 'summary'])[i % 3 + 1],
       CASE WHEN i % 4 = 0 THEN NULL ELSE md5('pixelcraft-fixture-conversation-' || (i % (:rows / 2) + 1))::uuid END,
       'reply',
       (ARRAY['success', 'error', 'partial'])[i % 3 + 1],
       i % 5000,
       CASE WHEN i % 3 = 1 THEN format('upstream timeout after %s ms; body: {"error":"busy"}', i % 5000) END,
       timestamptz '2026-02-01 00:00:00+00' + i * interval '17 seconds'
FROM generate_series(1, :rows) AS i
WHERE NOT EXISTS (SELECT 1 FROM agent_logs WHERE action = 'reply' AND error LIKE 'upstream timeout%');

INSERT INTO model_metrics (model_name, task_type, status, latency_ms, tokens_in, tokens_out, error, created_at)
SELECT (ARRAY['llama3.2:3b', 'qwen2.5:7b', 'hf:mistral-7b'])[i % 3 + 1],
       (ARRAY['chat', 'summary'])[i % 2 + 1],
       CASE WHEN i % 20 = 0 THEN 'error' ELSE 'success' END,
       50 + i % 3000, i % 300, i % 900,
       CASE WHEN i % 20 = 0 THEN 'HTTP 503 from model host' END,
       timestamptz '2026-02-01 00:00:00+00' + i * interval '11 seconds'
FROM generate_series(1, :rows) AS i
WHERE NOT EXISTS (SELECT 1 FROM model_metrics WHERE error = 'HTTP 503 from model host');

-- 004_notifications
INSERT INTO notifications (id, recipient_id, notification_type, severity, title, message,
                           action_url, metadata, read_at, created_at, expires_at, deleted_at)
SELECT md5('pixelcraft-fixture-notification-' || i)::uuid,
       md5('pixelcraft-fixture-' || (i % 500 + 1))::uuid,
       (ARRAY['conversation', 'lead', 'agent', 'workflow', 'system'])[i % 5 + 1],
       (ARRAY['info', 'success', 'warning', 'error'])[i % 4 + 1],
       format('Notice %s: "quoted" ''single'' ü €', i),
       format(E'line one\nline two %s \\ backslash', i),
       CASE WHEN i % 3 = 0 THEN format('/dashboard/conversations/%s', i) END,
       jsonb_build_object('n', i, 'tags', jsonb_build_array('a', 'b')),
       CASE WHEN i % 2 = 0 THEN timestamptz '2026-03-01 12:00:00+00' + i * interval '1 minute' END,
       timestamptz '2026-03-01 00:00:00+00' + i * interval '1 minute',
       CASE WHEN i % 7 = 0 THEN timestamptz '2027-01-01 00:00:00+00' END,
       CASE WHEN i % 11 = 0 THEN timestamptz '2026-03-02 00:00:00+00' END
FROM generate_series(1, :rows / 4) AS i
ON CONFLICT (id) DO NOTHING;

-- 003_business: three packages, ROWS/4 leads, subscriptions and recommendations
INSERT INTO pricing_packages (id, name, description, price_monthly, price_yearly, features,
                              is_active, priority, created_at)
SELECT md5('pixelcraft-fixture-package-' || i)::uuid,
       format('Fixture package %s «€» "quoted" ''single''', i),
       format(E'line one\nline two \\ backslash %s', i),
       (ARRAY[99, 299, 599.99])[i], (ARRAY[990, 2990, 5999.90])[i],
       jsonb_build_array('pages', i, jsonb_build_object('sla', i = 3, 'note', NULL)),
       i <> 3, i, timestamptz '2026-02-01 00:00:00+05:30' + i * interval '1 hour'
FROM generate_series(1, 3) AS i
ON CONFLICT (id) DO NOTHING;

INSERT INTO leads (id, user_id, email, first_name, last_name, company, phone, source, lead_status,
                   lead_score, services_interested, budget_range, timeline, notes, metadata,
                   created_at, updated_at, deleted_at)
SELECT md5('pixelcraft-fixture-lead-' || i)::uuid,
       CASE WHEN i % 5 = 0 THEN NULL ELSE md5('pixelcraft-fixture-' || (i % :rows + 1))::uuid END,
       format('lead.%s+tag@example.com', i), 'Zoë', format('O''Brien-%s', i),
       CASE WHEN i % 4 <> 0 THEN format('Pixel "Works" \ GmbH %s', i) END,
       CASE WHEN i % 3 = 0 THEN '+49 30 1234567' END,
       (ARRAY['website', 'chat', 'referral'])[i % 3 + 1],
       (ARRAY['new', 'contacted', 'qualified', 'opportunity', 'customer', 'lost'])[i % 6 + 1],
       CASE WHEN i % 7 <> 0 THEN i % 101 END,
       ARRAY['Web Development', format('SEO «%s»', i)],
       '$5k-20k', E'3-6 months\tQ3', CASE WHEN i % 2 = 0 THEN E'call back\nafter 5 pm' END,
       jsonb_build_object('utm', jsonb_build_object('source', 'newsletter', 'n', i)),
       timestamptz '2026-02-10 00:00:00-08:00' + i * interval '5 minutes',
       timestamptz '2026-02-10 00:00:00-08:00' + i * interval '5 minutes' + interval '1 day',
       CASE WHEN i % 13 = 0 THEN timestamptz '2026-03-01 00:00:00+00' END
FROM generate_series(1, :rows / 4) AS i
ON CONFLICT (id) DO NOTHING;

INSERT INTO user_subscriptions (id, user_id, package_id, status, billing_cycle, original_price,
                                discount_amount, final_price, start_date, end_date, created_at,
                                updated_at)
SELECT md5('pixelcraft-fixture-subscription-' || i)::uuid,
       md5('pixelcraft-fixture-' || (i % :rows + 1))::uuid,
       CASE WHEN i % 9 <> 0 THEN md5('pixelcraft-fixture-package-' || (i % 3 + 1))::uuid END,
       (ARRAY['active', 'cancelled', 'expired', 'pending', 'paused'])[i % 5 + 1],
       CASE WHEN i % 4 = 0 THEN 'yearly' ELSE 'monthly' END,
       299.00, (i % 30)::numeric / 10, 299.00 - (i % 30)::numeric / 10,
       timestamptz '2026-02-15 09:30:00+01:00' + i * interval '7 minutes',
       CASE WHEN i % 5 IN (1, 2)
            THEN timestamptz '2026-03-15 09:30:00+01:00' + i * interval '7 minutes' END,
       timestamptz '2026-02-15 09:30:00+01:00' + i * interval '7 minutes',
       timestamptz '2026-02-16 09:30:00+01:00' + i * interval '7 minutes'
FROM generate_series(1, :rows / 4) AS i
ON CONFLICT (id) DO NOTHING;

-- a lead's, a conversation's, or both
INSERT INTO service_recommendations (id, lead_id, conversation_id, service_name, confidence, status,
                                     created_at)
SELECT md5('pixelcraft-fixture-recommendation-' || i)::uuid,
       CASE WHEN i % 3 <> 0 THEN md5('pixelcraft-fixture-lead-' || i)::uuid END,
       CASE WHEN i % 3 <> 1 THEN md5('pixelcraft-fixture-conversation-' || i)::uuid END,
       (ARRAY['Web Development', 'SEO "Optimization"', E'Brand\\Design', 'E-commerce ü'])[i % 4 + 1],
       (i % 101)::numeric / 100,
       (ARRAY['suggested', 'accepted', 'rejected'])[i % 3 + 1],
       timestamptz '2026-02-20 00:00:00+00' + i * interval '3 minutes'
FROM generate_series(1, :rows / 4) AS i
ON CONFLICT (id) DO NOTHING;

COMMIT;
