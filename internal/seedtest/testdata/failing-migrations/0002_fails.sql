-- The table below must be rolled back with the failing INSERT.
CREATE TABLE migrate_test_second (id int);
INSERT INTO no_such_table VALUES (1);
