-- 003: the business tables the analytics dashboard reports on (leads, the
-- pricing packages, users' subscriptions to them, and the services the
-- assistant recommended), next to what chat writes (002).
--
-- Money is numeric(12,2); every timestamp is timestamptz. "Owned by a user"
-- means user_id (leads, subscriptions); a recommendation belongs to the
-- owner of its lead or of its conversation.

CREATE TABLE IF NOT EXISTS leads (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid,                  -- the owning user; NULL: admins only
    email               text NOT NULL,
    first_name          text,
    last_name           text,
    company             text,
    phone               text,
    source              text NOT NULL DEFAULT 'website',
    lead_status         text NOT NULL DEFAULT 'new'
                        CHECK (lead_status IN ('new', 'contacted', 'qualified', 'opportunity',
                                               'customer', 'lost')),
    lead_score          integer CHECK (lead_score BETWEEN 0 AND 100), -- NULL: not scored yet
    services_interested text[] NOT NULL DEFAULT '{}',
    budget_range        text,
    timeline            text,
    notes               text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);
-- analytics read live leads by creation time, all of them (admin) or one user's;
-- with the columns the reports need, so the scans are index-only
CREATE INDEX IF NOT EXISTS leads_created ON leads (created_at)
    INCLUDE (user_id, lead_status, lead_score) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS leads_user_created ON leads (user_id, created_at)
    WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS pricing_packages (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL UNIQUE,
    description   text NOT NULL DEFAULT '',
    price_monthly numeric(12, 2) NOT NULL CHECK (price_monthly >= 0),
    price_yearly  numeric(12, 2) NOT NULL CHECK (price_yearly >= 0),
    features      jsonb NOT NULL DEFAULT '[]'::jsonb,
    is_active     boolean NOT NULL DEFAULT true,
    priority      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pricing_packages_active ON pricing_packages (is_active, priority);

CREATE TABLE IF NOT EXISTS user_subscriptions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL,
    package_id      uuid REFERENCES pricing_packages (id) ON DELETE SET NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('active', 'cancelled', 'expired', 'pending', 'paused')),
    billing_cycle   text NOT NULL DEFAULT 'monthly' CHECK (billing_cycle IN ('monthly', 'yearly')),
    original_price  numeric(12, 2) NOT NULL CHECK (original_price >= 0),
    discount_amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    final_price     numeric(12, 2) NOT NULL CHECK (final_price >= 0),
    start_date      timestamptz NOT NULL DEFAULT now(),
    end_date        timestamptz CHECK (end_date IS NULL OR end_date >= start_date),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now() -- a cancellation's time, for trends
);
-- by creation time, with what the revenue summary reads (index-only scans)
CREATE INDEX IF NOT EXISTS user_subscriptions_created ON user_subscriptions (created_at)
    INCLUDE (user_id, status, billing_cycle, final_price);
CREATE INDEX IF NOT EXISTS user_subscriptions_user_created
    ON user_subscriptions (user_id, created_at);
CREATE INDEX IF NOT EXISTS user_subscriptions_package ON user_subscriptions (package_id);
-- cancellations by time (subscription trends)
CREATE INDEX IF NOT EXISTS user_subscriptions_cancelled ON user_subscriptions (updated_at)
    WHERE status = 'cancelled';

CREATE TABLE IF NOT EXISTS service_recommendations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lead_id         uuid REFERENCES leads (id) ON DELETE CASCADE,
    conversation_id uuid REFERENCES conversations (id) ON DELETE CASCADE,
    service_name    text NOT NULL,
    confidence      numeric(3, 2) NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    status          text NOT NULL DEFAULT 'suggested'
                    CHECK (status IN ('suggested', 'accepted', 'rejected')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (lead_id IS NOT NULL OR conversation_id IS NOT NULL) -- someone's recommendation
);
CREATE INDEX IF NOT EXISTS service_recommendations_created ON service_recommendations (created_at);
CREATE INDEX IF NOT EXISTS service_recommendations_lead ON service_recommendations (lead_id);
CREATE INDEX IF NOT EXISTS service_recommendations_conversation
    ON service_recommendations (conversation_id);

-- conversations (002) as the analytics read them: live ones by creation
-- time, with the columns the summaries need, so they are index-only scans
CREATE INDEX IF NOT EXISTS conversations_created_live ON conversations (created_at)
    INCLUDE (id, user_id, status) WHERE deleted_at IS NULL;
