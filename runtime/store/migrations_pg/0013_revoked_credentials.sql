-- 0013, PostgreSQL flavour of migrations/0013_revoked_credentials.sql: revoked user tokens
-- and API keys are pruned (retention.revoked_credentials_days, runtime/retention.py): each
-- table gets an index of its revoked rows only, by when, which the pruner reads oldest first
-- (live credentials, looked up by their hash, are not in it).
-- And script versions an index of the API key each names as its author: the pruner keeps a
-- key some version names, and deleting a key (ON DELETE SET NULL) looked through every
-- version without one.

CREATE INDEX user_tokens_revoked ON user_tokens(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX api_keys_revoked ON api_keys(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX script_versions_author ON script_versions(created_by_key_id)
    WHERE created_by_key_id IS NOT NULL;
