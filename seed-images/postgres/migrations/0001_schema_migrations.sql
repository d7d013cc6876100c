-- Sample migration 0001: the bookkeeping table. migrate.sh (and the sample
-- app's migrate command) create it too and record each version themselves,
-- applying only versions not yet recorded. The samples are nevertheless
-- idempotent on their own (IF NOT EXISTS, ON CONFLICT DO NOTHING, guarded
-- UPDATEs) and record their own version, so applying one by hand with psql
-- is also safe.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_migrations (version) VALUES ('0001') ON CONFLICT (version) DO NOTHING;
