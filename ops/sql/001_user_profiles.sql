-- 001: application roles of Supabase users.
-- A user without a row has the role "user".
CREATE TABLE IF NOT EXISTS user_profiles (
    user_id    uuid PRIMARY KEY,
    role       text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    metadata   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS user_profiles_admins ON user_profiles (user_id) WHERE role = 'admin';
