-- workload.sql: an SQLite session for the guarded-sampling preload tests (sqlite3 reads
-- it on stdin, with an in-memory database). Tables, an index, joins, grouping, sorting,
-- string functions and a recursive query; every printed value is independent of the
-- allocator, so the output is compared with the same run under glibc.
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO item SELECT i, printf('item-%06d-%s', i, hex(i * 2654435761 % 1000003)), i % 97, (i % 1000) / 10.0 FROM n;
CREATE INDEX item_grp ON item(grp, price);
CREATE TABLE tag(item_id INTEGER, tag TEXT);
INSERT INTO tag SELECT id, substr(name, 13) FROM item WHERE id % 3 = 0;
SELECT count(*), sum(price), max(length(name)) FROM item;
SELECT grp, count(*), round(avg(price), 3) FROM item GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(*), count(DISTINCT t.tag) FROM item i JOIN tag t ON t.item_id = i.id WHERE i.grp < 50;
SELECT name FROM item ORDER BY substr(name, 13) DESC, id LIMIT 3;
SELECT length(group_concat(upper(substr(name, 6, 6)), ',')) FROM item WHERE price > 99.5;
UPDATE item SET name = replace(name, 'item', 'row') WHERE grp % 2 = 0;
DELETE FROM item WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(name)), min(name), max(name) FROM item;
