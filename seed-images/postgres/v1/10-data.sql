-- Seed v1, data: a handful of rows a reviewer can recognise in a preview.
-- internal/seedtest checks these rows with hand-written expectations:
-- change both together.

INSERT INTO customers (id, email, full_name, country, created_at) VALUES
    (1, 'ada@example.com',     'Ada Lovelace',    'GB', '2026-01-05 09:00:00+00'),
    (2, 'grace@example.com',   'Grace Hopper',    'US', '2026-01-06 10:30:00+00'),
    (3, 'alan@example.com',    'Alan Turing',     'GB', '2026-01-07 11:15:00+00'),
    (4, 'edsger@example.com',  'Edsger Dijkstra', 'NL', '2026-01-08 08:45:00+00'),
    (5, 'barbara@example.com', 'Barbara Liskov',  'US', '2026-01-09 16:20:00+00');

INSERT INTO products (id, sku, name, price_cents) VALUES
    (1, 'BOOK-001', 'Notebook',     450),
    (2, 'PEN-002',  'Fountain pen', 2500),
    (3, 'INK-003',  'Ink bottle',   800),
    (4, 'LAMP-004', 'Desk lamp',    3999);

INSERT INTO orders (id, customer_id, placed_at, shipped_at) VALUES
    (1, 1, '2026-02-01 12:00:00+00', '2026-02-03 08:00:00+00'),
    (2, 2, '2026-02-02 13:00:00+00', NULL),
    (3, 1, '2026-02-10 09:30:00+00', '2026-02-11 17:00:00+00'),
    (4, 3, '2026-03-01 10:00:00+00', '2026-03-02 10:00:00+00'),
    (5, 4, '2026-03-05 15:45:00+00', NULL),
    (6, 5, '2026-03-07 18:10:00+00', NULL);

INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES
    (1, 1, 2, 450),
    (1, 2, 1, 2500),
    (2, 4, 1, 3999),
    (3, 3, 3, 800),
    (4, 1, 1, 450),
    (4, 3, 1, 800),
    (5, 2, 2, 2500),
    (6, 4, 1, 3999),
    (6, 1, 4, 450);
