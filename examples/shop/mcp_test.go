package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMCPToolCall(t *testing.T) {
	for _, tc := range []struct {
		cfg  config
		want bool
	}{
		{config{version: "v1"}, false},
		{config{version: "v2", toolErrorRate: 1}, true},
	} {
		srv := newTestServer(t, tc.cfg, time.Now)
		resp, err := srv.Client().Post(srv.URL+"/mcp", "application/json",
			strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search"}}`))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			JSONRPC string `json:"jsonrpc"`
			ID      int    `json:"id"`
			Result  struct {
				IsError bool `json:"isError"`
			} `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || got.JSONRPC != "2.0" || got.ID != 7 || got.Result.IsError != tc.want {
			t.Errorf("%s: status %d, %+v; want 200 with isError %v", tc.cfg.version, resp.StatusCode, got, tc.want)
		}
	}
}
