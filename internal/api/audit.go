package api

import (
	"encoding/json"
	"time"
)

// Audit is one admin action (GET /api/v1/audit): who acted ("token" for
// the bearer token, "session:<hash>" for a dashboard session), what, with
// which arguments, how it ended ("ok" or the error), when and from where.
type Audit struct {
	ID     int64           `json:"id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Args   json.RawMessage `json:"args,omitempty"`
	Result string          `json:"result"`
	Remote string          `json:"remote"`
}

// AuditList is GET /api/v1/audit: the newest entries first.
type AuditList struct {
	Entries []Audit `json:"entries"`
}
