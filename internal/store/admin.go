package store

import (
	"encoding/json"
	"time"
)

// AuditKeep is how many audit entries the store keeps per app: appending
// one more prunes the oldest.
const AuditKeep = 10000

// AuditEntry is one admin action, through the API or the dashboard.
type AuditEntry struct {
	ID   int64     `json:"id"` // set by AppendAudit
	App  string    `json:"app"`
	Time time.Time `json:"time"` // zero: the store sets the write time
	// Actor is who acted: "token" for the bearer token, "session:<hash>"
	// for a dashboard session (a short hash, never the id itself).
	Actor  string `json:"actor"`
	Action string `json:"action"` // deploy, rollback, route, pause, login...
	// Args: the action's arguments (version, strategy, weights), JSON
	// object, bounded by the caller.
	Args json.RawMessage `json:"args,omitempty"`
	// Result is "ok" or the error the action ended with.
	Result string `json:"result"`
	Remote string `json:"remote"` // the client's address
}

// AdminSession is one dashboard login as stored: the session id itself is
// never stored, only its SHA-256 (Key, hex).
type AdminSession struct {
	Key     string    `json:"key"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}
