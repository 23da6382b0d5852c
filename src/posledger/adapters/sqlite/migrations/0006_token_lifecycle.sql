-- Migration 0006: tokens get a lifecycle (CONTRACT section 15): a public id to list and revoke
-- them by, an optional expiry, and when each was last used. PostgreSQL's 0005 is the twin.
ALTER TABLE api_tokens ADD COLUMN token_id TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
UPDATE api_tokens SET token_id = 'tok_' || substr(token_hash, 1, 20) WHERE token_id IS NULL;
CREATE UNIQUE INDEX api_tokens_id ON api_tokens (token_id);
