package standin

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The ELBv2 part: the Query protocol (form-encoded Action=…, members
// numbered from 1), answered in XML.

const elbNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

type target struct {
	id     string
	port   int
	state  string // initial, healthy, unhealthy, draining
	reason string
}

type targetGroup struct {
	arn, name string
	targets   []*target
}

// Forward is one weighted target group of a forward action.
type Forward struct {
	TargetGroupArn string
	Weight         int
}

// Action is a listener default action as the stand-in holds it.
type Action struct {
	Type           string
	Order          int
	TargetGroupArn string
	Forward        []Forward
	// Sticky and StickySeconds are the ForwardConfig's
	// TargetGroupStickinessConfig.
	Sticky        bool
	StickySeconds int
	// HasForwardConfig says the action came with a ForwardConfig.
	HasForwardConfig bool
	FixedStatus      string
}

type listener struct {
	arn     string
	port    int
	actions []Action
	writes  [][]Action
}

// AddTargetGroup creates an empty target group and returns its ARN.
func (s *Server) AddTargetGroup(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := s.arn("elasticloadbalancing", "targetgroup/"+name+"/"+s.id())
	s.groups[arn] = &targetGroup{arn: arn, name: name}
	return arn
}

// AddListener creates a listener on port whose default action forwards
// to targetGroup, with the lb_cookie stickiness of the articles when
// stickySeconds > 0, and returns its ARN.
func (s *Server) AddListener(port int, targetGroup string, stickySeconds int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := s.arn("elasticloadbalancing", fmt.Sprintf("listener/app/shop/%s/%s", "50dc6c495c0c9188", s.id()))
	a := Action{Type: "forward", Order: 1, TargetGroupArn: targetGroup, HasForwardConfig: true,
		Forward: []Forward{{targetGroup, 1}}, Sticky: stickySeconds > 0, StickySeconds: stickySeconds}
	s.listeners[arn] = &listener{arn: arn, port: port, actions: []Action{a}}
	return arn
}

// Listener is listener's default actions now.
func (s *Server) Listener(arn string) []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.listeners[arn]; l != nil {
		return append([]Action(nil), l.actions...)
	}
	return nil
}

// Writes are the default actions of every ModifyListener applied to
// listener, in order.
func (s *Server) Writes(arn string) [][]Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.listeners[arn]; l != nil {
		return append([][]Action(nil), l.writes...)
	}
	return nil
}

// Weights reads the forward weights of actions by target group ARN (a
// plain forward gives its group 100).
func Weights(actions []Action) map[string]int {
	out := map[string]int{}
	for _, a := range actions {
		if a.Type != "forward" {
			continue
		}
		if len(a.Forward) == 0 {
			out[a.TargetGroupArn] = 100
			continue
		}
		sum := 0
		for _, f := range a.Forward {
			sum += f.Weight
		}
		for _, f := range a.Forward {
			if sum == 0 {
				out[f.TargetGroupArn] = 0
				continue
			}
			out[f.TargetGroupArn] = f.Weight * 100 / sum
		}
	}
	return out
}

// Healthy counts target group's healthy targets.
func (s *Server) Healthy(arn string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step()
	n := 0
	if g := s.groups[arn]; g != nil {
		for _, t := range g.targets {
			if t.state == "healthy" {
				n++
			}
		}
	}
	return n
}

func splitAddr(addr string) (string, int) {
	i := strings.LastIndex(addr, ":")
	port, _ := strconv.Atoi(addr[i+1:])
	return addr[:i], port
}

func (s *Server) groupOf(svc *service) *targetGroup {
	if len(svc.lbs) == 0 {
		return nil
	}
	return s.groups[svc.lbs[0].TargetGroupArn]
}

func (s *Server) registerTarget(svc *service, t *task) {
	if g := s.groupOf(svc); g != nil {
		id, port := splitAddr(t.addr)
		g.targets = append(g.targets, &target{id: id, port: port, state: "initial", reason: "Elb.RegistrationInProgress"})
	}
}

func (s *Server) setTarget(svc *service, t *task, state, reason string) {
	if g := s.groupOf(svc); g != nil {
		id, port := splitAddr(t.addr)
		for _, tg := range g.targets {
			if tg.id == id && tg.port == port {
				tg.state, tg.reason = state, reason
			}
		}
	}
}

func (s *Server) targetState(svc *service, t *task) string {
	if g := s.groupOf(svc); g != nil {
		id, port := splitAddr(t.addr)
		for _, tg := range g.targets {
			if tg.id == id && tg.port == port {
				return tg.state
			}
		}
	}
	return ""
}

func (s *Server) deregisterTarget(svc *service, t *task) {
	if g := s.groupOf(svc); g != nil {
		id, port := splitAddr(t.addr)
		kept := g.targets[:0]
		for _, tg := range g.targets {
			if tg.id != id || tg.port != port {
				kept = append(kept, tg)
			}
		}
		g.targets = kept
	}
}

// XML shapes of the answers.
type (
	xmlForwardGroup struct {
		TargetGroupArn string `xml:"TargetGroupArn"`
		Weight         int    `xml:"Weight"`
	}
	xmlAction struct {
		Type           string `xml:"Type"`
		Order          int    `xml:"Order,omitempty"`
		TargetGroupArn string `xml:"TargetGroupArn,omitempty"`
		ForwardConfig  *struct {
			TargetGroups                []xmlForwardGroup `xml:"TargetGroups>member"`
			TargetGroupStickinessConfig struct {
				Enabled         bool `xml:"Enabled"`
				DurationSeconds int  `xml:"DurationSeconds,omitempty"`
			} `xml:"TargetGroupStickinessConfig"`
		} `xml:"ForwardConfig,omitempty"`
		FixedResponseConfig *struct {
			StatusCode string `xml:"StatusCode"`
		} `xml:"FixedResponseConfig,omitempty"`
	}
	xmlListener struct {
		ListenerArn     string      `xml:"ListenerArn"`
		LoadBalancerArn string      `xml:"LoadBalancerArn"`
		Port            int         `xml:"Port"`
		Protocol        string      `xml:"Protocol"`
		DefaultActions  []xmlAction `xml:"DefaultActions>member"`
	}
	xmlTag struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	}
	xmlTagDescription struct {
		ResourceArn string   `xml:"ResourceArn"`
		Tags        []xmlTag `xml:"Tags>member"`
	}
	xmlTargetHealth struct {
		Target struct {
			ID   string `xml:"Id"`
			Port int    `xml:"Port"`
		} `xml:"Target"`
		HealthCheckPort string `xml:"HealthCheckPort"`
		TargetHealth    struct {
			State  string `xml:"State"`
			Reason string `xml:"Reason,omitempty"`
		} `xml:"TargetHealth"`
	}
)

func toXML(a Action) xmlAction {
	x := xmlAction{Type: a.Type, Order: a.Order, TargetGroupArn: a.TargetGroupArn}
	if a.Type == "forward" && (a.HasForwardConfig || len(a.Forward) > 0) {
		x.ForwardConfig = &struct {
			TargetGroups                []xmlForwardGroup `xml:"TargetGroups>member"`
			TargetGroupStickinessConfig struct {
				Enabled         bool `xml:"Enabled"`
				DurationSeconds int  `xml:"DurationSeconds,omitempty"`
			} `xml:"TargetGroupStickinessConfig"`
		}{}
		for _, f := range a.Forward {
			x.ForwardConfig.TargetGroups = append(x.ForwardConfig.TargetGroups, xmlForwardGroup(f))
		}
		x.ForwardConfig.TargetGroupStickinessConfig.Enabled = a.Sticky
		x.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds = a.StickySeconds
	}
	if a.Type == "fixed-response" {
		x.FixedResponseConfig = &struct {
			StatusCode string `xml:"StatusCode"`
		}{a.FixedStatus}
	}
	return x
}

func (s *Server) listenerXML(l *listener) xmlListener {
	x := xmlListener{ListenerArn: l.arn, LoadBalancerArn: s.arn("elasticloadbalancing", "loadbalancer/app/shop/50dc6c495c0c9188"),
		Port: l.port, Protocol: "HTTP"}
	for _, a := range l.actions {
		x.DefaultActions = append(x.DefaultActions, toXML(a))
	}
	return x
}

// members reads the values of prefix.member.N (N from 1) in order.
func members(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		k := prefix + ".member." + strconv.Itoa(i)
		if !form.Has(k) {
			return out
		}
		out = append(out, form.Get(k))
	}
}

// actionsFrom parses DefaultActions.member.N… of a ModifyListener.
func actionsFrom(form url.Values) ([]Action, error) {
	var out []Action
	for i := 1; ; i++ {
		p := "DefaultActions.member." + strconv.Itoa(i) + "."
		if !form.Has(p + "Type") {
			break
		}
		a := Action{Type: form.Get(p + "Type"), TargetGroupArn: form.Get(p + "TargetGroupArn")}
		a.Order, _ = strconv.Atoi(form.Get(p + "Order"))
		fc := p + "ForwardConfig."
		for j := 1; ; j++ {
			g := fc + "TargetGroups.member." + strconv.Itoa(j) + "."
			if !form.Has(g + "TargetGroupArn") {
				break
			}
			a.HasForwardConfig = true
			w := 1
			if form.Has(g + "Weight") {
				w, _ = strconv.Atoi(form.Get(g + "Weight"))
			}
			if w < 0 || w > 999 {
				return nil, fmt.Errorf("weight %d out of 0..999", w)
			}
			a.Forward = append(a.Forward, Forward{form.Get(g + "TargetGroupArn"), w})
		}
		a.Sticky = form.Get(fc+"TargetGroupStickinessConfig.Enabled") == "true"
		a.StickySeconds, _ = strconv.Atoi(form.Get(fc + "TargetGroupStickinessConfig.DurationSeconds"))
		a.FixedStatus = form.Get(p + "FixedResponseConfig.StatusCode")
		if a.Type == "forward" && a.TargetGroupArn == "" && len(a.Forward) == 0 {
			return nil, fmt.Errorf("a forward action needs a target group")
		}
		if a.TargetGroupArn != "" && len(a.Forward) > 1 {
			return nil, fmt.Errorf("TargetGroupArn and a ForwardConfig with several groups")
		}
		if a.TargetGroupArn != "" && len(a.Forward) == 0 {
			a.Forward = []Forward{{a.TargetGroupArn, 1}}
		}
		if len(a.Forward) == 1 {
			a.TargetGroupArn = a.Forward[0].TargetGroupArn
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("DefaultActions is required")
	}
	return out, nil
}

func (s *Server) serveELB(w http.ResponseWriter, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		elbError(w, http.StatusBadRequest, "ValidationError", err.Error())
		return
	}
	op := form.Get("Action")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admit("elasticloadbalancing:" + op) {
		elbError(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	s.step()
	var result any
	switch op {
	case "DescribeListeners":
		var ls []xmlListener
		for _, arn := range members(form, "ListenerArns") {
			l := s.listeners[arn]
			if l == nil {
				elbError(w, http.StatusBadRequest, "ListenerNotFound", "One or more listeners not found")
				return
			}
			ls = append(ls, s.listenerXML(l))
		}
		result = struct {
			Listeners []xmlListener `xml:"Listeners>member"`
		}{ls}
	case "ModifyListener":
		l := s.listeners[form.Get("ListenerArn")]
		if l == nil {
			elbError(w, http.StatusBadRequest, "ListenerNotFound", "One or more listeners not found")
			return
		}
		actions, err := actionsFrom(form)
		if err != nil {
			elbError(w, http.StatusBadRequest, "ValidationError", err.Error())
			return
		}
		for _, a := range actions {
			for _, f := range a.Forward {
				if s.groups[f.TargetGroupArn] == nil {
					elbError(w, http.StatusBadRequest, "TargetGroupNotFound", "Target groups '"+f.TargetGroupArn+"' not found")
					return
				}
			}
		}
		l.actions = actions
		l.writes = append(l.writes, actions)
		s.record(Call{Action: "elasticloadbalancing:ModifyListener", Listener: l.arn, Weights: Weights(actions), Desired: -1})
		result = struct {
			Listeners []xmlListener `xml:"Listeners>member"`
		}{[]xmlListener{s.listenerXML(l)}}
	case "DescribeTargetHealth":
		g := s.groups[form.Get("TargetGroupArn")]
		if g == nil {
			elbError(w, http.StatusBadRequest, "TargetGroupNotFound", "One or more target groups not found")
			return
		}
		var ths []xmlTargetHealth
		for _, t := range g.targets {
			var x xmlTargetHealth
			x.Target.ID, x.Target.Port, x.HealthCheckPort = t.id, t.port, strconv.Itoa(t.port)
			x.TargetHealth.State, x.TargetHealth.Reason = t.state, t.reason
			ths = append(ths, x)
		}
		result = struct {
			TargetHealthDescriptions []xmlTargetHealth `xml:"TargetHealthDescriptions>member"`
		}{ths}
	case "AddTags":
		arns := members(form, "ResourceArns")
		for _, arn := range arns {
			if s.listeners[arn] == nil && s.groups[arn] == nil {
				elbError(w, http.StatusBadRequest, "ListenerNotFound", "resource "+arn+" not found")
				return
			}
			if s.tags[arn] == nil {
				s.tags[arn] = map[string]string{}
			}
			for i := 1; form.Has("Tags.member." + strconv.Itoa(i) + ".Key"); i++ {
				p := "Tags.member." + strconv.Itoa(i) + "."
				s.tags[arn][form.Get(p+"Key")] = form.Get(p + "Value")
			}
		}
		result = struct{}{}
	case "DescribeTags":
		var ds []xmlTagDescription
		for _, arn := range members(form, "ResourceArns") {
			d := xmlTagDescription{ResourceArn: arn}
			keys := make([]string, 0, len(s.tags[arn]))
			for k := range s.tags[arn] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				d.Tags = append(d.Tags, xmlTag{k, s.tags[arn][k]})
			}
			ds = append(ds, d)
		}
		result = struct {
			TagDescriptions []xmlTagDescription `xml:"TagDescriptions>member"`
		}{ds}
	default:
		elbError(w, http.StatusBadRequest, "InvalidAction", "the stand-in does not implement "+op)
		return
	}
	writeELB(w, op, result)
}

func writeELB(w http.ResponseWriter, op string, result any) {
	var b bytes.Buffer
	b.WriteString(`<` + op + `Response xmlns="` + elbNS + `">`)
	enc := xml.NewEncoder(&b)
	if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := enc.Flush(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b.WriteString(`<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></` + op + `Response>`)
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(b.Bytes())
}

func elbError(w http.ResponseWriter, status int, code, msg string) {
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="` + elbNS + `"><Error><Type>Sender</Type><Code>`)
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString(`</Code><Message>`)
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
