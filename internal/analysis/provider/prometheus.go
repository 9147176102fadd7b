package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// prometheus runs an instant query and compares its one number with the
// bounds.
type prometheus struct {
	client *http.Client
	cfg    config.PrometheusProvider
}

// promAnswer is the Prometheus HTTP API's answer to /api/v1/query.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (p *prometheus) judge(ctx context.Context, w analysis.Window) analysis.ProviderResult {
	q := expand(p.cfg.Query, w)
	r := p.ask(ctx, q)
	r.Query, r.Max, r.Min = q, p.cfg.Max, p.cfg.Min
	return r
}

func (p *prometheus) ask(ctx context.Context, q string) analysis.ProviderResult {
	u := strings.TrimSuffix(p.cfg.URL, "/") + "/api/v1/query?" + url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return inconclusive("build request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return inconclusive("prometheus %s unreachable: %v", host(req), unwrapURL(err))
	}
	b, err := readBody(resp)
	if err != nil {
		return inconclusive("prometheus %s: %v", host(req), err)
	}
	var a promAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return inconclusive("prometheus %s answered %s, not its API's JSON: %s", host(req), resp.Status, snippet(b))
	}
	if a.Status != "success" {
		return inconclusive("prometheus %s: query failed (%s): %s", host(req), a.ErrorType, a.Error)
	}
	v, err := value(a.Data.ResultType, a.Data.Result)
	if err != nil {
		return inconclusive("prometheus %s: %v", host(req), err)
	}
	if math.IsNaN(v) {
		return inconclusive("query returned NaN (no data in the range, or 0/0)")
	}
	r := analysis.ProviderResult{Result: analysis.Pass, Value: &v}
	val := strconv.FormatFloat(v, 'g', 6, 64)
	switch {
	case p.cfg.Max != nil && v > *p.cfg.Max:
		r.Result, r.Reason = analysis.Fail, fmt.Sprintf("query returned %s, above max %g", val, *p.cfg.Max)
	case p.cfg.Min != nil && v < *p.cfg.Min:
		r.Result, r.Reason = analysis.Fail, fmt.Sprintf("query returned %s, below min %g", val, *p.cfg.Min)
	default:
		var within []string
		if p.cfg.Min != nil {
			within = append(within, fmt.Sprintf("min %g", *p.cfg.Min))
		}
		if p.cfg.Max != nil {
			within = append(within, fmt.Sprintf("max %g", *p.cfg.Max))
		}
		r.Reason = fmt.Sprintf("query returned %s, within %s", val, strings.Join(within, " and "))
	}
	return r
}

// value is the one number of a query result: a scalar, or a vector of one
// sample.
func value(typ string, raw json.RawMessage) (float64, error) {
	var sample []json.RawMessage // [ <unix time>, "<value>" ]
	switch typ {
	case "scalar":
		if err := json.Unmarshal(raw, &sample); err != nil {
			return 0, fmt.Errorf("unreadable scalar result: %s", snippet(raw))
		}
	case "vector":
		var vec []struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return 0, fmt.Errorf("unreadable vector result: %s", snippet(raw))
		}
		switch len(vec) {
		case 0:
			return 0, fmt.Errorf("query returned no data (no series matched)")
		case 1:
			sample = vec[0].Value
		default:
			return 0, fmt.Errorf("query returned %d series, want one number: aggregate it, such as sum(…) or max(…)", len(vec))
		}
	default:
		return 0, fmt.Errorf("query returned a %s, want a scalar or a vector of one series", typ)
	}
	var s string
	if len(sample) != 2 || json.Unmarshal(sample[1], &s) != nil {
		return 0, fmt.Errorf("unreadable sample: %s", snippet(raw))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("unreadable sample value %q", s)
	}
	return v, nil
}
