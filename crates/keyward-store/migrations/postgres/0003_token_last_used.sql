-- When each token was last used (unix ms), written at most once a minute per token per node.
ALTER TABLE access_tokens ADD COLUMN last_used_at BIGINT;
