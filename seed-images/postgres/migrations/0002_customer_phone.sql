-- Sample migration 0002: an optional column.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS phone text;

INSERT INTO schema_migrations (version) VALUES ('0002') ON CONFLICT (version) DO NOTHING;
