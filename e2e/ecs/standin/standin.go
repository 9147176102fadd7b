package standin

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options shape the stand-in's world.
type Options struct {
	// Region and Account make the ARNs; defaults eu-west-1 and 123456789012.
	Region, Account string
	// StartDelay is how long a task is PENDING before it runs (or stops,
	// for a FailImage image); HealthyDelay how long a running task's
	// target is "initial" before it is "healthy". Defaults 50ms and 100ms.
	StartDelay, HealthyDelay time.Duration
	// StaleReads is how many DescribeServices calls after an
	// UpdateService still answer the service as it was before it.
	StaleReads int
	// Throttle is the share of calls (0 to 1) answered with a throttling
	// error instead; Seed makes the choice repeatable.
	Throttle float64
	Seed     uint64
	// Addr, when set, gives task n (counting from 1) of service its
	// target's "ip:port" (such as a real local process); by default it
	// is 10.0.<service>.<n>:8080.
	Addr func(service string, n int) string
}

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu        sync.Mutex
	rng       *rand.Rand
	now       func() time.Time
	calls     map[string]int // "ecs:UpdateService" → applied calls
	throttled map[string]int
	actions   map[string]bool

	families  map[string][]*taskDef // family → revisions (1 is index 0)
	services  map[string]*service   // by name
	svcOrder  []string
	groups    map[string]*targetGroup // by ARN
	listeners map[string]*listener    // by ARN
	tags      map[string]map[string]string
	failing   map[string]failure // image → how its tasks stop
	metrics   map[string][]Datapoint
	nextID    int
	log       []Call
	queries   []string // GetMetricData's, see MetricQueries
}

// Call is one applied write (UpdateService, ModifyListener, AddTags,
// RegisterTaskDefinition) as the stand-in saw it, in order.
type Call struct {
	At     time.Time
	Action string // "ecs:UpdateService", "elasticloadbalancing:ModifyListener", …
	// Service and Desired are UpdateService's service and desired count
	// (-1 when the call set none).
	Service string
	Desired int
	// Listener and Weights are ModifyListener's listener and its forward
	// weights by target group ARN.
	Listener string
	Weights  map[string]int
	// Healthy counts each target group's healthy targets (by ARN) as the
	// call was applied.
	Healthy map[string]int
}

// New starts a stand-in on 127.0.0.1; it stops in t.Cleanup (Close).
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "eu-west-1"
	}
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	if opts.StartDelay == 0 {
		opts.StartDelay = 50 * time.Millisecond
	}
	if opts.HealthyDelay == 0 {
		opts.HealthyDelay = 100 * time.Millisecond
	}
	s := &Server{
		opts:      opts,
		rng:       rand.New(rand.NewPCG(opts.Seed, 15)),
		now:       time.Now,
		calls:     map[string]int{},
		throttled: map[string]int{},
		actions:   map[string]bool{},
		families:  map[string][]*taskDef{},
		services:  map[string]*service{},
		groups:    map[string]*targetGroup{},
		listeners: map[string]*listener{},
		tags:      map[string]map[string]string{},
		failing:   map[string]failure{},
		metrics:   map[string][]Datapoint{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint override for the SDK clients.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetThrottle changes the share of throttled calls.
func (s *Server) SetThrottle(p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Throttle = p
}

// Calls are the calls applied (not throttled) per "service:Action".
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Throttled are the calls answered with a throttling error.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.throttled {
		n += v
	}
	return n
}

// Actions are the IAM actions of every call seen, sorted
// ("ecs:DescribeServices", "elasticloadbalancing:ModifyListener", …).
func (s *Server) Actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a := range s.actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Log is every applied write, in order.
func (s *Server) Log() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.log...)
}

// record appends c to the log, with the time and the target groups'
// health. Locked.
func (s *Server) record(c Call) {
	c.At, c.Healthy = s.now(), map[string]int{}
	for arn, g := range s.groups {
		for _, t := range g.targets {
			if t.state == "healthy" {
				c.Healthy[arn]++
			}
		}
	}
	s.log = append(s.log, c)
}

// maxBody bounds a request body.
const maxBody = 1 << 20

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), ecsTarget):
		s.serveECS(w, strings.TrimPrefix(r.Header.Get("X-Amz-Target"), ecsTarget), body)
	case strings.HasPrefix(r.URL.Path, cborPath):
		s.serveCloudWatch(w, strings.TrimPrefix(r.URL.Path, cborPath), body)
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		s.serveELB(w, body)
	default:
		http.Error(w, "unknown protocol", http.StatusBadRequest)
	}
}

// admit records a call of action and says whether to throttle it. Locked.
func (s *Server) admit(action string) (throttle bool) {
	s.actions[action] = true
	if s.opts.Throttle > 0 && s.rng.Float64() < s.opts.Throttle {
		s.throttled[action]++
		return true
	}
	s.calls[action]++
	return false
}

// arn makes an ARN of svc and resource.
func (s *Server) arn(svc, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", svc, s.opts.Region, s.opts.Account, resource)
}

// id is a fresh hex id.
func (s *Server) id() string {
	s.nextID++
	return fmt.Sprintf("%016x", 0x5eed0000+s.nextID)
}
