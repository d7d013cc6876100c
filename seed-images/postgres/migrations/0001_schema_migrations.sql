-- Sample migration 0001: the bookkeeping table. Every sample migration is
-- idempotent on its own (IF NOT EXISTS, ON CONFLICT DO NOTHING, guarded
-- UPDATEs), so replaying the whole directory changes nothing.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_migrations (version) VALUES ('0001') ON CONFLICT (version) DO NOTHING;
