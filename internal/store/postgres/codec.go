package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// now is the store's write time, cut to what timestamptz keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// timeArg is t as a query argument: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromTimestamptz reads a nullable timestamptz as UTC; NULL is the zero time.
func fromTimestamptz(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	return ts.Time.UTC()
}

// jsonArg is raw JSON as a query argument: NULL when empty, else its text.
func jsonArg(field string, b json.RawMessage) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON", field)
	}
	return string(b), nil
}

// rawJSON is a scanned jsonb column; NULL is nil.
func rawJSON(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

// isActiveViolation reports whether err is the one-active-deployment index
// refusing a row.
func isActiveViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "bluegreen_deployments_one_active"
}
