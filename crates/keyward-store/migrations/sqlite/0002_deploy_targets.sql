-- keyward schema, version 2 (issue #13): deploy targets per environment, agent names bound to a token.

-- 1 when a JWK follows every environment (URL, paste, file, generate without environmentList),
-- new environments included; 0 when it is deployed only where it is now (derived from one
-- environment's certificate, key or keystore, or given an environmentList).
ALTER TABLE jwks ADD COLUMN all_environments INTEGER NOT NULL DEFAULT 1;
UPDATE jwks SET all_environments = 0 WHERE source_environment_id IS NOT NULL;

-- kid uniqueness within an environment is checked on every create: by index, not by scan.
CREATE INDEX jwks_kid ON jwks(project_id, kid);

-- Re-plan: a JWK derived from one environment's material leaves every other environment. Each
-- environment that loses one moves its revision, so agents and public JWKS caches follow.
UPDATE environments SET revision = revision + 1 WHERE id IN (
    SELECT d.environment_id FROM deployments d JOIN jwks j ON j.id = d.object_id
    WHERE d.object_kind = 'JWK' AND j.source_environment_id IS NOT NULL
      AND d.environment_id <> j.source_environment_id);
DELETE FROM deployments WHERE object_kind = 'JWK' AND EXISTS (
    SELECT 1 FROM jwks j WHERE j.id = deployments.object_id
      AND j.source_environment_id IS NOT NULL AND j.source_environment_id <> deployments.environment_id);

-- The token that first used an agent name in an environment; polls and acknowledgements under
-- another live token are refused.
ALTER TABLE agents ADD COLUMN token_id TEXT;
