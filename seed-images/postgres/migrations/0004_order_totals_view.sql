-- Sample migration 0004: a reporting view.
CREATE OR REPLACE VIEW order_totals AS
SELECT o.id                                   AS order_id,
       o.customer_id,
       sum(i.quantity * i.unit_price_cents)::bigint AS total_cents
FROM orders o
JOIN order_items i ON i.order_id = o.id
GROUP BY o.id, o.customer_id;

INSERT INTO schema_migrations (version) VALUES ('0004') ON CONFLICT (version) DO NOTHING;
