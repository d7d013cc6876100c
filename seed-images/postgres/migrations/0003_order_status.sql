-- Sample migration 0003: a lookup table, a new column with a foreign key, a
-- backfill and an index.
CREATE TABLE IF NOT EXISTS order_statuses (
    code  text PRIMARY KEY,
    label text NOT NULL
);

INSERT INTO order_statuses (code, label) VALUES
    ('placed',    'Placed'),
    ('shipped',   'Shipped'),
    ('cancelled', 'Cancelled')
ON CONFLICT (code) DO NOTHING;

ALTER TABLE orders
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'placed' REFERENCES order_statuses (code);

UPDATE orders SET status = 'shipped'
WHERE shipped_at IS NOT NULL AND status = 'placed';

CREATE INDEX IF NOT EXISTS orders_status_idx ON orders (status);

INSERT INTO schema_migrations (version) VALUES ('0003') ON CONFLICT (version) DO NOTHING;
