-- demo-data.sql: a realistic demo data set for the analytics dashboard, over
-- the 90 days before now(): 200 users and 3 admins, 1,500 leads, the three
-- pricing packages, 600 subscriptions, 1,200 service recommendations, 900
-- conversations with about 4,500 messages, 2,500 agent log rows and 3,000
-- model calls.
--
-- `make run` loads it into its private database (scripts/run.sh), and so does
-- the benchmark; production never does: this file is not a migration (its
-- name does not match NNN_name.sql), so `pixelcraft-api migrate` skips it.
--
-- Deterministic: every "random" value comes from md5 of a fixed string, so
-- two loads differ only in the time they are relative to. Idempotent: fixed
-- keys with ON CONFLICT DO NOTHING, and the identity-keyed tables are filled
-- only while their demo marker row is absent, so loading twice changes
-- nothing.
--
-- The demo admins (role admin in user_profiles) have the ids
-- de300000-0000-4000-8000-00000000000{1,2,3}: `build/pc-token SECRET
-- de300000-0000-4000-8000-000000000001` mints a token for one of them.
\set ON_ERROR_STOP 1

-- r(seed): a number in [0, 1) derived from seed
CREATE FUNCTION pg_temp.r(seed text) RETURNS double precision
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT ('x' || substr(md5(seed), 1, 8))::bit(32)::bigint / 4294967296.0 $$;

-- u(i): the i-th demo user (1..200)
CREATE FUNCTION pg_temp.u(i integer) RETURNS uuid
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT md5('pixelcraft-demo-user-' || i)::uuid $$;

BEGIN;

INSERT INTO user_profiles (user_id, role, metadata)
SELECT ('de300000-0000-4000-8000-00000000000' || i)::uuid, 'admin',
       jsonb_build_object('demo', true, 'name', 'Demo admin ' || i)
FROM generate_series(1, 3) AS i
ON CONFLICT (user_id) DO NOTHING;

INSERT INTO user_profiles (user_id, role, metadata)
SELECT pg_temp.u(i), 'user', jsonb_build_object('demo', true, 'name', 'Demo user ' || i)
FROM generate_series(1, 200) AS i
ON CONFLICT (user_id) DO NOTHING;

INSERT INTO pricing_packages (id, name, description, price_monthly, price_yearly, features,
                              is_active, priority, created_at)
VALUES (md5('pixelcraft-demo-package-starter')::uuid, 'Starter',
        'A five-page website with a contact form', 99, 990,
        '["5 pages", "contact form", "basic SEO"]', true, 1, now() - interval '120 days'),
       (md5('pixelcraft-demo-package-professional')::uuid, 'Professional',
        'A custom website with a blog, analytics and the chat assistant', 299, 2990,
        '["20 pages", "blog", "analytics", "chat assistant"]', true, 2,
        now() - interval '120 days'),
       (md5('pixelcraft-demo-package-enterprise')::uuid, 'Enterprise',
        'Web application, integrations and priority support', 599, 5990,
        '["unlimited pages", "integrations", "priority support", "SLA"]', true, 3,
        now() - interval '120 days')
ON CONFLICT (name) DO NOTHING;

-- leads: 80 % owned by a demo user; statuses along a sales funnel
INSERT INTO leads (id, user_id, email, first_name, last_name, company, phone, source, lead_status,
                   lead_score, services_interested, budget_range, timeline, notes, metadata,
                   created_at, updated_at, deleted_at)
SELECT md5('pixelcraft-demo-lead-' || i)::uuid,
       CASE WHEN pg_temp.r('lead-owner-' || i) < 0.8
            THEN pg_temp.u(1 + (pg_temp.r('lead-user-' || i) * 200)::int % 200) END,
       format('lead%s@%s.example.com', i, (ARRAY['acme', 'globex', 'initech', 'umbrella',
              'hooli', 'stark', 'wayne', 'wonka'])[1 + i % 8]),
       (ARRAY['Ana', 'Ben', 'Chloé', 'Dev', 'Eva', 'Finn', 'Grace', 'Hiro'])[1 + i % 8],
       (ARRAY['Silva', 'Okafor', 'Müller', 'Patel', 'Nguyen', 'Rossi', 'Kim', 'Dubois'])[1 + i % 7],
       (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Wonka'])[1 + i % 8],
       '+1-555-' || lpad((i % 10000)::text, 4, '0'),
       (ARRAY['website', 'chat', 'referral', 'ads', 'event'])[1 + (pg_temp.r('lead-src-' || i) * 5)::int % 5],
       CASE WHEN s < 0.30 THEN 'new' WHEN s < 0.50 THEN 'contacted' WHEN s < 0.65 THEN 'qualified'
            WHEN s < 0.77 THEN 'opportunity' WHEN s < 0.87 THEN 'customer' ELSE 'lost' END,
       CASE WHEN pg_temp.r('lead-scored-' || i) < 0.9
            THEN (pg_temp.r('lead-score-' || i) * 101)::int % 101 END,
       ARRAY[(ARRAY['Web Development', 'SEO Optimization', 'Digital Marketing', 'Brand Design',
                    'E-commerce', 'Mobile App'])[1 + i % 6]],
       (ARRAY['< $1k', '$1k-5k', '$5k-20k', '> $20k'])[1 + i % 4],
       (ARRAY['asap', '1-3 months', '3-6 months', 'exploring'])[1 + i % 4],
       CASE WHEN i % 5 = 0 THEN 'Asked about pricing in the chat' END,
       jsonb_build_object('demo', true),
       t, least(now(), t + interval '2 days' * pg_temp.r('lead-upd-' || i)),
       CASE WHEN pg_temp.r('lead-del-' || i) < 0.03 THEN least(now(), t + interval '1 day') END
FROM generate_series(1, 1500) AS i,
     LATERAL (SELECT pg_temp.r('lead-status-' || i) AS s,
                     now() - interval '90 days' * pg_temp.r('lead-time-' || i) AS t) x
ON CONFLICT (id) DO NOTHING;

-- subscriptions: mostly active, some cancelled, expired, pending or paused;
-- a quarter billed yearly; some with a 10-20 % discount
INSERT INTO user_subscriptions (id, user_id, package_id, status, billing_cycle, original_price,
                                discount_amount, final_price, start_date, end_date, created_at,
                                updated_at)
SELECT md5('pixelcraft-demo-subscription-' || i)::uuid, user_id, p.id, status, cycle, price,
       discount, price - discount, t,
       CASE WHEN status IN ('cancelled', 'expired')
            THEN t + CASE cycle WHEN 'yearly' THEN interval '1 year' ELSE interval '1 month' END END,
       t,
       CASE WHEN status = 'cancelled'
            THEN t + (now() - t) * pg_temp.r('sub-cancel-' || i) ELSE t END
FROM generate_series(1, 600) AS i,
     LATERAL (SELECT pg_temp.u(1 + (pg_temp.r('sub-user-' || i) * 200)::int % 200) AS user_id,
                     now() - interval '90 days' * pg_temp.r('sub-time-' || i) AS t,
                     (ARRAY['Starter', 'Starter', 'Professional', 'Professional', 'Enterprise'])
                         [1 + (pg_temp.r('sub-pkg-' || i) * 5)::int % 5] AS package,
                     CASE WHEN pg_temp.r('sub-cycle-' || i) < 0.25 THEN 'yearly' ELSE 'monthly' END
                         AS cycle,
                     pg_temp.r('sub-status-' || i) AS s) x
     JOIN pricing_packages p ON p.name = x.package,
     LATERAL (SELECT CASE WHEN x.s < 0.60 THEN 'active' WHEN x.s < 0.75 THEN 'cancelled'
                          WHEN x.s < 0.83 THEN 'expired' WHEN x.s < 0.90 THEN 'pending'
                          ELSE 'paused' END AS status,
                     CASE x.cycle WHEN 'yearly' THEN p.price_yearly ELSE p.price_monthly END
                         AS price) y,
     LATERAL (SELECT CASE WHEN pg_temp.r('sub-disc-' || i) < 0.3
                          THEN round(y.price * (0.10 + 0.10 * pg_temp.r('sub-pct-' || i))::numeric, 2)
                          ELSE 0 END AS discount) z
ON CONFLICT (id) DO NOTHING;

-- conversations: 85 % of a demo user, the rest anonymous visitors
INSERT INTO conversations (id, user_id, title, channel, status, metadata, created_at, updated_at)
SELECT md5('pixelcraft-demo-conversation-' || i)::uuid,
       CASE WHEN pg_temp.r('conv-owner-' || i) < 0.85
            THEN pg_temp.u(1 + (pg_temp.r('conv-user-' || i) * 200)::int % 200) END,
       (ARRAY['What does a website cost?', 'SEO for my shop', 'Redesign of our site',
              'Chatbot for support', 'Mobile app idea', 'Logo and branding'])[1 + i % 6],
       (ARRAY['chat', 'chat', 'chat', 'widget', 'email'])[1 + (pg_temp.r('conv-ch-' || i) * 5)::int % 5],
       CASE WHEN s < 0.35 THEN 'active' WHEN s < 0.85 THEN 'completed' ELSE 'archived' END,
       jsonb_build_object('demo', true),
       t, t + interval '30 seconds' * (1 + (pg_temp.r('conv-len-' || i) * 7)::int)
FROM generate_series(1, 900) AS i,
     LATERAL (SELECT pg_temp.r('conv-status-' || i) AS s,
                     now() - interval '90 days' * pg_temp.r('conv-time-' || i) AS t) x
ON CONFLICT (id) DO NOTHING;

-- 2 to 8 messages per conversation, user and assistant in turn
INSERT INTO messages (id, conversation_id, role, content, model, tokens_in, tokens_out,
                      latency_ms, status, created_at)
SELECT md5('pixelcraft-demo-message-' || i || '-' || k)::uuid, c.id,
       CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
       CASE WHEN k % 2 = 1 THEN 'Question ' || k || ' about ' || c.title
            ELSE 'Here is what PixelCraft can do for you (' || k || ').' END,
       CASE WHEN k % 2 = 0 THEN (ARRAY['tinyllama', 'mistral', 'glm4'])[1 + i % 3] END,
       CASE WHEN k % 2 = 0 THEN 200 + (i * 7 + k) % 300 END,
       CASE WHEN k % 2 = 0 THEN 50 + (i * 13 + k) % 400 END,
       CASE WHEN k % 2 = 0 THEN 300 + (i * 31 + k) % 4000 END,
       'complete', c.created_at + interval '30 seconds' * (k - 1)
FROM generate_series(1, 900) AS i
     JOIN conversations c ON c.id = md5('pixelcraft-demo-conversation-' || i)::uuid,
     LATERAL generate_series(1, 2 + (pg_temp.r('conv-len-' || i) * 7)::int % 7) AS k
ON CONFLICT (id) DO NOTHING;

-- recommendations: 70 % from a lead, the rest from a conversation
INSERT INTO service_recommendations (id, lead_id, conversation_id, service_name, confidence,
                                     status, created_at)
SELECT md5('pixelcraft-demo-recommendation-' || i)::uuid,
       CASE WHEN from_lead THEN md5('pixelcraft-demo-lead-' || (1 + i % 1500))::uuid END,
       CASE WHEN NOT from_lead THEN md5('pixelcraft-demo-conversation-' || (1 + i % 900))::uuid END,
       (ARRAY['Web Development', 'SEO Optimization', 'Digital Marketing', 'Brand Design',
              'E-commerce', 'Mobile App', 'AI Chatbot', 'Content Writing'])
           [1 + (pg_temp.r('rec-svc-' || i) * 8)::int % 8],
       round((0.35 + 0.65 * pg_temp.r('rec-conf-' || i))::numeric, 2),
       CASE WHEN s < 0.45 THEN 'suggested' WHEN s < 0.80 THEN 'accepted' ELSE 'rejected' END,
       now() - interval '90 days' * pg_temp.r('rec-time-' || i)
FROM generate_series(1, 1200) AS i,
     LATERAL (SELECT pg_temp.r('rec-from-' || i) < 0.7 AS from_lead,
                     pg_temp.r('rec-status-' || i) AS s) x
ON CONFLICT (id) DO NOTHING;

-- agent_logs and model_metrics have generated ids: filled once, while the
-- first demo conversation has no agent log (resp. no demo model call)
INSERT INTO agent_logs (agent_type, conversation_id, action, status, latency_ms, error, created_at)
SELECT agent, md5('pixelcraft-demo-conversation-' || (1 + i % 900))::uuid,
       (ARRAY['process_message', 'qualify_lead', 'recommend_services', 'book_meeting'])
           [array_position(ARRAY['chat', 'lead_qualifier', 'recommender', 'scheduler'], agent)],
       CASE WHEN s < 0.90 THEN 'success' WHEN s < 0.97 THEN 'error' ELSE 'partial' END,
       (100 + 4900 * pg_temp.r('log-lat-' || i))::int,
       CASE WHEN s >= 0.90 AND s < 0.97 THEN 'model timeout' END,
       now() - interval '90 days' * pg_temp.r('log-time-' || i)
FROM generate_series(1, 2500) AS i,
     LATERAL (SELECT (ARRAY['chat', 'chat', 'lead_qualifier', 'recommender', 'scheduler'])
                         [1 + (pg_temp.r('log-agent-' || i) * 5)::int % 5] AS agent,
                     pg_temp.r('log-status-' || i) AS s) x
WHERE NOT EXISTS (SELECT 1 FROM agent_logs
                  WHERE conversation_id = md5('pixelcraft-demo-conversation-1')::uuid);

INSERT INTO model_metrics (model_name, task_type, status, latency_ms, tokens_in, tokens_out, error,
                           created_at)
SELECT model, (ARRAY['chat', 'chat', 'lead_analysis', 'recommendation'])[1 + i % 4],
       CASE WHEN s < 0.95 THEN 'success' ELSE 'error' END,
       (CASE model WHEN 'tinyllama' THEN 200 WHEN 'mistral' THEN 900 ELSE 1500 END
        + 3000 * pg_temp.r('mm-lat-' || i))::int,
       CASE WHEN s < 0.95 THEN 150 + (i * 7) % 400 ELSE 0 END,
       CASE WHEN s < 0.95 THEN 40 + (i * 11) % 500 ELSE 0 END,
       CASE WHEN s >= 0.95 THEN 'demo: timeout after 90 s' END,
       now() - interval '90 days' * pg_temp.r('mm-time-' || i)
FROM generate_series(1, 3000) AS i,
     LATERAL (SELECT (ARRAY['tinyllama', 'tinyllama', 'mistral', 'glm4'])
                         [1 + (pg_temp.r('mm-model-' || i) * 4)::int % 4] AS model,
                     pg_temp.r('mm-status-' || i) AS s) x
WHERE NOT EXISTS (SELECT 1 FROM model_metrics WHERE error = 'demo: timeout after 90 s');

COMMIT;

-- fresh statistics and visibility map, so the planner sees the demo data
-- as it is and index-only scans are possible
VACUUM ANALYZE leads, pricing_packages, user_subscriptions, service_recommendations,
    conversations, messages, agent_logs, model_metrics, user_profiles;
