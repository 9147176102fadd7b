package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// timeLayout stores times as fixed-width UTC text to the microsecond, so
// they read well and sort as text in time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// now is the store's write time, cut to what it stores.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// formatTime is t as stored.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// timeArg is t as a query argument: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

// parseTime reads a time column; NULL is the zero time.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}

// jsonArg is raw JSON as a query argument: NULL when empty, else text
// (STRICT tables refuse a BLOB in a TEXT column).
func jsonArg(field string, b json.RawMessage) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON", field)
	}
	return string(b), nil
}

// rawJSON reads a JSON column; NULL is nil.
func rawJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// isActiveViolation reports whether err is the one-active-deployment index
// refusing a row.
func isActiveViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
