package api

import (
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// RouterStatus is the router's snapshot: the route table it applies and
// each slot's live numbers.
type RouterStatus struct {
	Table Route                          `json:"table"`
	Slots map[slot.Slot]RouterSlotStatus `json:"slots"`
}

// RouterSlotStatus describes one slot as the router sees it.
type RouterSlotStatus struct {
	Weight  int `json:"weight"`
	Healthy int `json:"healthy"`
	Total   int `json:"total"`
	// Inflight counts requests and streams in flight (production and
	// preview).
	Inflight int64 `json:"inflight"`
	// Retries counts requests retried on another instance since start.
	Retries int64 `json:"retries"`
	// PassiveEjectionLimit is how many of the slot's instances may be out
	// of rotation for passive failures to take one more out
	// (health.max_passive_ejection of Total, rounded down).
	PassiveEjectionLimit int `json:"passive_ejection_limit"`
	// PassiveHeld counts the instances passive failures would have taken
	// out beyond that limit: they stay in rotation until active checks
	// fail (BackendStatus.PassiveHeld).
	PassiveHeld int `json:"passive_held"`
	// Draining is true while the slot waits, after losing production
	// traffic, for its earlier requests to finish before DrainDeadline.
	Draining      bool      `json:"draining"`
	DrainDeadline time.Time `json:"drain_deadline,omitzero"`
	// DrainingRequests counts requests started before the slot lost
	// production traffic that are still running.
	DrainingRequests int64 `json:"draining_requests"`
	// MCPSessions counts the MCP sessions pinned to the slot (0 when
	// routing.mcp_sessions is off). A slot that lost production traffic
	// keeps serving them.
	MCPSessions int64 `json:"mcp_sessions"`
	// SessionDrainDeadline is when the slot, which lost production
	// traffic, stops waiting for its MCP sessions to end; zero when it has
	// traffic.
	SessionDrainDeadline time.Time `json:"session_drain_deadline,omitzero"`
	// CanScaleDown is true when the slot has no production traffic and no
	// MCP session to wait for (none left, or the session drain is over).
	CanScaleDown bool `json:"can_scale_down"`
	// Streams counts the slot's open SSE streams and WebSockets, and those
	// the router ended at a drain deadline or shutdown.
	Streams  StreamStatus    `json:"streams"`
	Backends []BackendStatus `json:"backends"`
}

// StreamStatus counts a slot's streams.
type StreamStatus struct {
	// SSE and WebSocket count the streams open now (production and
	// preview).
	SSE       int64 `json:"sse"`
	WebSocket int64 `json:"websocket"`
	// Drained counts streams the router ended cleanly at a drain deadline
	// or shutdown since start: SSE after a complete event and a retry
	// hint, WebSockets with a close frame 1001 (going away).
	Drained int64 `json:"drained"`
	// Cut counts streams it had to close as they were: an event or frame
	// still incomplete after the grace period.
	Cut int64 `json:"cut"`
}

// BackendStatus describes one instance.
type BackendStatus struct {
	Addr                string `json:"addr"`
	Healthy             bool   `json:"healthy"`
	Inflight            int64  `json:"inflight"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// PassiveHeld is true while the instance is in rotation only because
	// passive failures may not take more of its slot out; HeldReason says
	// so in words.
	PassiveHeld bool   `json:"passive_held"`
	HeldReason  string `json:"held_reason,omitempty"`
}
