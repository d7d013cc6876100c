CREATE TABLE IF NOT EXISTS migrate_test_first (id int);
