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

COMMIT;
