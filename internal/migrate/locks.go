package migrate

import (
	"regexp"
	"strings"
)

// lockRule maps a statement shape to the strongest table lock PostgreSQL
// takes for it (see the "Explicit Locking" chapter of its manual).
type lockRule struct {
	re   *regexp.Regexp
	lock string
}

var lockRules = []lockRule{
	{regexp.MustCompile(`^CREATE (UNIQUE )?INDEX CONCURRENTLY\b`), "SHARE UPDATE EXCLUSIVE, no writer waits"},
	{regexp.MustCompile(`^CREATE (UNIQUE )?INDEX\b`), "SHARE, blocks writers for the whole build"},
	{regexp.MustCompile(`^DROP INDEX CONCURRENTLY\b`), "SHARE UPDATE EXCLUSIVE, no writer waits"},
	{regexp.MustCompile(`^ALTER TABLE .* VALIDATE CONSTRAINT\b`), "SHARE UPDATE EXCLUSIVE during the scan, no writer waits"},
	{regexp.MustCompile(`^ALTER TABLE .* ADD CONSTRAINT .* FOREIGN KEY .* NOT VALID$`), "SHARE ROW EXCLUSIVE on both tables, catalog only"},
	{regexp.MustCompile(`^ALTER TABLE .* ADD CONSTRAINT .* NOT VALID$`), "ACCESS EXCLUSIVE, catalog only"},
	{regexp.MustCompile(`^ALTER TABLE .* ALTER COLUMN .* SET NOT NULL$`), "ACCESS EXCLUSIVE, catalog only when a valid CHECK (col IS NOT NULL) exists, else a full scan"},
	{regexp.MustCompile(`^ALTER TABLE .* ALTER COLUMN .* TYPE\b`), "ACCESS EXCLUSIVE, rewrites the table"},
	{regexp.MustCompile(`^ALTER TABLE\b`), "ACCESS EXCLUSIVE, catalog only"},
	{regexp.MustCompile(`^CREATE (OR REPLACE )?TRIGGER\b`), "SHARE ROW EXCLUSIVE, catalog only"},
	{regexp.MustCompile(`^DROP TRIGGER\b`), "ACCESS EXCLUSIVE, catalog only"},
	{regexp.MustCompile(`^(CREATE|DROP) (OR REPLACE )?(FUNCTION|VIEW|SCHEMA)\b`), "no table lock"},
	{regexp.MustCompile(`^CREATE TABLE .* AS (SELECT|TABLE)\b`), "ACCESS SHARE on the tables it reads"},
	{regexp.MustCompile(`^CREATE TABLE\b`), "no lock on existing tables"},
	{regexp.MustCompile(`^DROP TABLE\b`), "ACCESS EXCLUSIVE"},
	{regexp.MustCompile(`^(UPDATE|INSERT|DELETE)\b`), "ROW EXCLUSIVE, row locks on the rows written"},
	{regexp.MustCompile(`^(SELECT|WITH)\b`), "ACCESS SHARE"},
}

// lockOf says which lock stmt takes on PostgreSQL, for plan; a statement
// it does not recognise is "unknown", which the reader must check.
func lockOf(stmt string) string {
	n := normalize(stmt)
	n = strings.Join(strings.Fields(n), " ")
	for _, r := range lockRules {
		if r.re.MatchString(n) {
			return r.lock
		}
	}
	return "unknown: check it by hand"
}
