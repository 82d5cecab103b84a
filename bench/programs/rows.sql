-- rows.sql: sqlite3 inserting, indexing, updating and deleting rows in memory.
--
-- Models: an embedded database under load. With an in-memory database every page
-- of the table and its indexes, and every row and statement buffer, is allocated
-- with malloc, so the allocator carries the whole working set (about 100 MiB).
--
-- Run as: sqlite3 :memory: ".parameter set @n 300000" ".read bench/programs/rows.sql"
-- (@n is the number of rows; the driver sets it).
-- Checks: the row count after the delete, the sum of the keys against the same sum
-- computed without the table, both indexes against the table, and PRAGMA
-- integrity_check. The last line is "ok name=sqlite-insert ..." only if all agree,
-- else a FAIL line (the driver reads the last line).
.bail on
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @n)
INSERT INTO t(k, name, body)
  SELECT (i * 7919) % 100003, printf('row-%08d', i), printf('%.*c', 20 + i % 200, 'x') FROM c;
COMMIT;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
UPDATE t SET body = body || name || body WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
CREATE TEMP TABLE expect AS
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @n)
  SELECT count(*) AS rows, sum((i * 7919) % 100003) AS ksum,
         sum(CASE WHEN i % 3 = 0 THEN 2 * (20 + i % 200) + 12 ELSE 20 + i % 200 END) AS blen
  FROM c WHERE i % 5 != 0;
SELECT CASE
  WHEN (SELECT count(*) FROM t) != (SELECT rows FROM expect) THEN 'FAIL: row count'
  WHEN (SELECT sum(k) FROM t) != (SELECT ksum FROM expect) THEN 'FAIL: key sum'
  WHEN (SELECT sum(length(body)) FROM t) != (SELECT blen FROM expect) THEN 'FAIL: body lengths'
  WHEN (SELECT count(*) FROM t INDEXED BY t_k WHERE k >= 0) != (SELECT rows FROM expect) THEN 'FAIL: key index'
  WHEN (SELECT count(*) FROM t INDEXED BY t_name WHERE name >= '') != (SELECT rows FROM expect) THEN 'FAIL: name index'
  WHEN (SELECT integrity_check FROM pragma_integrity_check) != 'ok' THEN 'FAIL: integrity_check'
  ELSE 'ok name=sqlite-insert rows=' || (SELECT count(*) FROM t) || ' ksum=' || (SELECT sum(k) FROM t)
END;
