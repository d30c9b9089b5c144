-- Where an object is deployed, by object: every create looks up the environments of the JWKs that
-- hold a kid, and every change those of the object it changes (`deploy::deployed_environment_ids`).
-- The primary key leads with the environment, so without this index each look-up read every
-- deployment row, and writes slowed down as the store grew (issue #11).
CREATE INDEX deployments_object ON deployments(object_kind, object_id);
