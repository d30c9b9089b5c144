//! The end-to-end tests: each module starts the real `keyward` binary (or several) on free ports
//! and speaks HTTP to it, on the embedded store or, with `KEYWARD_TEST_DATABASE_URL`, on
//! PostgreSQL (`scripts/test.sh` runs both). One test binary for all of them: linking and
//! monomorphising the HTTP client once instead of once per file is most of the build time.

mod common;

mod agent;
mod agent_nginx;
mod api_access;
mod api_certificate_files;
mod api_certificates;
mod api_jwk_sources;
mod api_jwks;
mod api_keys;
mod api_keystores;
mod api_packages;
mod at_rest;
mod audit;
mod crash;
mod crosscheck;
mod edge;
mod heavy;
mod multinode;
mod permission_matrix;
mod public_jwks;
mod store_copy;
mod upgrade;
