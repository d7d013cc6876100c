CREATE TABLE migrate_test_third (id int);
