-- Seed v1, schema: a small shop (customers, products, orders, order items).
--
-- A seed version is a directory of SQL files that psql loads into the
-- database "app" in lexical order, one transaction per file. Like pg_dump
-- output, the tables come first, then the data (10-data.sql), then keys,
-- foreign keys and indexes (20-constraints.sql): building those once after
-- the load is much faster than checking them row by row.

CREATE TABLE customers (
    id         bigint      NOT NULL,
    email      text        NOT NULL,
    full_name  text        NOT NULL,
    country    char(2)     NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE products (
    id          bigint  NOT NULL,
    sku         text    NOT NULL,
    name        text    NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0)
);

CREATE TABLE orders (
    id          bigint      NOT NULL,
    customer_id bigint      NOT NULL,
    placed_at   timestamptz NOT NULL,
    shipped_at  timestamptz
);

CREATE TABLE order_items (
    order_id         bigint  NOT NULL,
    product_id       bigint  NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents integer NOT NULL CHECK (unit_price_cents >= 0)
);
