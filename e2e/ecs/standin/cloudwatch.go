package standin

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// The CloudWatch part: GetMetricData over Smithy RPC v2 CBOR (what the
// SDK's CloudWatch client speaks), answering the AWS/ApplicationELB
// metrics of the target groups from the datapoints AddMetrics gave.

// cborPath prefixes CloudWatch's Smithy RPC v2 CBOR operations.
const cborPath = "/service/GraniteServiceVersion20100801/operation/"

// Datapoint is one period of a target group's metrics: RequestCount,
// HTTPCode_Target_5XX_Count and TargetResponseTime's p99 (the stand-in
// answers it for every percentile asked).
type Datapoint struct {
	At                     time.Time
	Requests, Errors5xx    float64
	ResponseTimeP99Seconds float64
}

// AddMetrics records datapoints of targetGroup (its ARN).
func (s *Server) AddMetrics(targetGroup string, dps ...Datapoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics[targetGroup] = append(s.metrics[targetGroup], dps...)
}

// ResetMetrics drops targetGroup's datapoints.
func (s *Server) ResetMetrics(targetGroup string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.metrics, targetGroup)
}

// MetricQueries are the GetMetricData queries applied, as
// "MetricName/Stat/TargetGroup dimension", in order.
func (s *Server) MetricQueries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

func (s *Server) serveCloudWatch(w http.ResponseWriter, op string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admit("cloudwatch:" + op) {
		cborError(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	if op != "GetMetricData" {
		cborError(w, http.StatusBadRequest, "InvalidAction", "the stand-in does not implement "+op)
		return
	}
	v, err := cbor.Decode(body)
	if err != nil {
		cborError(w, http.StatusBadRequest, "SerializationException", "invalid CBOR: "+err.Error())
		return
	}
	in, _ := v.(cbor.Map)
	start, err1 := cbor.AsTime(in["StartTime"])
	end, err2 := cbor.AsTime(in["EndTime"])
	if err1 != nil || err2 != nil || !start.Before(end) {
		cborError(w, http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("StartTime and EndTime: %v %v", err1, err2))
		return
	}
	queries, _ := in["MetricDataQueries"].(cbor.List)
	if len(queries) == 0 || len(queries) > 500 {
		cborError(w, http.StatusBadRequest, "InvalidParameterValue", "MetricDataQueries: want 1 to 500")
		return
	}
	var results cbor.List
	for _, q := range queries {
		qm, _ := q.(cbor.Map)
		id := str(qm["Id"])
		stat, _ := qm["MetricStat"].(cbor.Map)
		metric, _ := stat["Metric"].(cbor.Map)
		name, st := str(metric["MetricName"]), str(stat["Stat"])
		dims := map[string]string{}
		list, _ := metric["Dimensions"].(cbor.List)
		for _, d := range list {
			dm, _ := d.(cbor.Map)
			dims[str(dm["Name"])] = str(dm["Value"])
		}
		if id == "" || str(metric["Namespace"]) != "AWS/ApplicationELB" {
			cborError(w, http.StatusBadRequest, "InvalidParameterValue", "query "+id+": want an Id and namespace AWS/ApplicationELB")
			return
		}
		s.queries = append(s.queries, name+"/"+st+"/"+dims["TargetGroup"])
		var dps []Datapoint
		if g := s.groupByDim(dims["TargetGroup"]); g != "" && strings.HasPrefix(dims["LoadBalancer"], "app/") {
			for _, dp := range s.metrics[g] {
				if !dp.At.Before(start) && dp.At.Before(end) {
					dps = append(dps, dp)
				}
			}
		}
		sort.Slice(dps, func(i, j int) bool { return dps[i].At.After(dps[j].At) }) // TimestampDescending
		var ts, vals cbor.List
		for _, dp := range dps {
			var x float64
			switch {
			case name == "RequestCount" && st == "Sum":
				x = dp.Requests
			case name == "HTTPCode_Target_5XX_Count" && st == "Sum":
				x = dp.Errors5xx
			case name == "TargetResponseTime" && strings.HasPrefix(st, "p"):
				x = dp.ResponseTimeP99Seconds
			default:
				continue
			}
			ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(dp.At.UnixMilli()) / 1e3)})
			vals = append(vals, cbor.Float64(x))
		}
		results = append(results, cbor.Map{
			"Id": cbor.String(id), "Label": cbor.String(name), "StatusCode": cbor.String("Complete"),
			"Timestamps": orEmpty(ts), "Values": orEmpty(vals),
		})
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(cbor.Encode(cbor.Map{"MetricDataResults": orEmpty(results), "Messages": cbor.List{}}))
}

// groupByDim is the ARN of the target group whose TargetGroup dimension
// ("targetgroup/<name>/<id>") is dim, "" when none. Locked.
func (s *Server) groupByDim(dim string) string {
	for arn := range s.groups {
		if dim != "" && strings.HasSuffix(arn, ":"+dim) {
			return arn
		}
	}
	return ""
}

func orEmpty(l cbor.List) cbor.List {
	if l == nil {
		return cbor.List{}
	}
	return l
}

func str(v cbor.Value) string {
	s, _ := v.(cbor.String)
	return string(s)
}

// cborError answers an RPC v2 CBOR error (with the query-compatible
// header CloudWatch sends).
func cborError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(code), "message": cbor.String(msg)}))
}
