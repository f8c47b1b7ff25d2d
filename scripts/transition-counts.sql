-- Transition counts for `grlm catalog build --transitions counts.tsv`, made where the logs
-- live (DuckDB here; the same query runs on Spark SQL with its own COPY/INSERT syntax).
-- Input: a table `events(user, item, ts)`, one row per interaction. Output: counts.tsv
-- with one row per (item, next item) that directly followed each other in some user's
-- sequence, one popularity row per item and one row with the number of users, every user's
-- last H items held out (H = 1 below: `n - 1`; write `n - 2` for holdout 2).
COPY (
  WITH ranked AS (
    SELECT "user", item,
           row_number() OVER (PARTITION BY "user" ORDER BY ts) AS pos,
           count(*)     OVER (PARTITION BY "user")             AS n
    FROM events),
  kept AS (SELECT "user", item, pos FROM ranked WHERE pos <= n - 1),
  steps AS (SELECT a.item AS item, b.item AS next
            FROM kept a JOIN kept b ON a."user" = b."user" AND b.pos = a.pos + 1)
  SELECT item, next, count(*) AS count FROM steps GROUP BY item, next
  UNION ALL SELECT item, NULL, count(*) FROM kept GROUP BY item
  UNION ALL SELECT NULL, NULL, count(DISTINCT "user") FROM kept
) TO 'counts.tsv' (DELIMITER E'\t', HEADER false);
