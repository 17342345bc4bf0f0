#!/usr/bin/env bash
# Whole-program workload (issue #36): Debian's sqlite3 on an in-memory
# database: N rows built, indexed, joined with a second table, half of them
# deleted, then vacuumed. Prints: seconds, peak RSS (KiB), 0 (no "after").
#   sqlite.sh N
set -euo pipefail
n=${1:-400000}
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat > "$script" <<SQL
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
  INSERT INTO t SELECT x, 'name-' || x, x % 1000, randomblob(16 + x % 200) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999)
  INSERT INTO g SELECT x, 'group-' || x FROM c;
SELECT count(*), sum(length(t.payload)) FROM t JOIN g ON t.grp = g.grp WHERE g.label LIKE 'group-1%';
SELECT grp, count(*) FROM t GROUP BY grp ORDER BY 2 DESC LIMIT 3;
DELETE FROM t WHERE id % 2 = 0;
VACUUM;
SELECT count(*) FROM t;
SQL
out=$( { /usr/bin/time -f "%e %M" sqlite3 :memory: < "$script" > /dev/null; } 2>&1 )
echo "$out 0"
