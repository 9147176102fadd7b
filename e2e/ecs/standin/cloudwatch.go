package standin

import (
	"net/http"
	"time"
)

// cborPath prefixes CloudWatch's Smithy RPC v2 CBOR operations.
const cborPath = "/service/GraniteServiceVersion20100801/operation/"

// Datapoint is one period of a target group's metrics.
type Datapoint struct {
	At                     time.Time
	Requests, Errors5xx    float64
	ResponseTimeP99Seconds float64
}

func (s *Server) serveCloudWatch(w http.ResponseWriter, op string, body []byte) {
	s.mu.Lock()
	throttle := s.admit("cloudwatch:" + op)
	s.mu.Unlock()
	_ = throttle
	http.Error(w, "not implemented", http.StatusNotImplemented)
}
