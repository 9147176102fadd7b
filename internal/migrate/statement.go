package migrate

import (
	"regexp"
	"strings"
)

// noTxPostgres matches statements PostgreSQL refuses inside a transaction
// block; they run alone, outside one.
var noTxPostgres = regexp.MustCompile(`^(CREATE (UNIQUE )?INDEX CONCURRENTLY|DROP INDEX CONCURRENTLY|REINDEX .*CONCURRENTLY|VACUUM|CREATE DATABASE|DROP DATABASE|ALTER SYSTEM|CREATE TABLESPACE|DROP TABLESPACE|ALTER TABLE .* DETACH PARTITION .* CONCURRENTLY|CLUSTER$)`)

// noTxSQLite matches statements SQLite refuses inside a transaction.
var noTxSQLite = regexp.MustCompile(`^VACUUM`)

// concurrentIndexRE finds the index name of CREATE INDEX CONCURRENTLY.
var concurrentIndexRE = regexp.MustCompile(`(?is)^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("?[A-Za-z0-9_.]+"?)\s+ON\b`)

// needsNoTx reports whether stmt must run outside a transaction on d.
func needsNoTx(d Dialect, stmt string) bool {
	n := normalize(stmt)
	switch d {
	case Postgres:
		return noTxPostgres.MatchString(n)
	case SQLite:
		return noTxSQLite.MatchString(n)
	}
	return false
}

// concurrentIndexName is the index CREATE INDEX CONCURRENTLY builds, or "".
func concurrentIndexName(stmt string) string {
	m := concurrentIndexRE.FindStringSubmatch(stripComments(stmt))
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

// isTxControl reports BEGIN, COMMIT, ROLLBACK, START TRANSACTION, END, SAVEPOINT.
func isTxControl(stmt string) bool {
	f := strings.Fields(normalize(stmt))
	if len(f) == 0 {
		return false
	}
	switch f[0] {
	case "BEGIN", "COMMIT", "ROLLBACK", "END", "SAVEPOINT", "RELEASE", "ABORT":
		return true
	case "START":
		return len(f) > 1 && f[1] == "TRANSACTION"
	}
	return false
}

// firstLine is the first non-comment line of stmt, for messages.
func firstLine(stmt string) string {
	for _, l := range strings.Split(stmt, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--") {
			if len(l) > 80 {
				l = l[:77] + "..."
			}
			return l
		}
	}
	return ""
}
