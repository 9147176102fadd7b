package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestACMEOrderLocationFilled: a finalize response without Location (RFC
// 8555 does not require it) gets the order's URL, learned from the
// new-order answer or from fetching the order; a response that has one
// keeps it, and bodies pass through whole.
func TestACMEOrderLocationFilled(t *testing.T) {
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/new-order":
			w.Header().Set("Location", base+"/order/1")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"status":"pending","finalize":"`+base+`/finalize/1"}`)
		case "/order/2":
			_, _ = io.WriteString(w, `{"status":"ready","finalize":"`+base+`/finalize/2"}`)
		case "/finalize/1", "/finalize/2":
			_, _ = io.WriteString(w, `{"status":"processing","finalize":"`+base+r.URL.Path+`"}`)
		case "/finalize/3":
			w.Header().Set("Location", base+"/elsewhere")
			_, _ = io.WriteString(w, `{"status":"processing","finalize":"`+base+`/finalize/3"}`)
		}
	}))
	defer srv.Close()
	base = srv.URL
	c := &http.Client{Transport: &orderLocations{next: http.DefaultTransport}}
	post := func(path string) (location, body string) {
		t.Helper()
		resp, err := c.Post(base+path, "application/jose+json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("Location"), string(b)
	}
	if loc, _ := post("/finalize/1"); loc != "" {
		t.Errorf("finalize of an order never seen: Location %q, want none", loc)
	}
	post("/new-order")
	loc, body := post("/finalize/1")
	if loc != base+"/order/1" {
		t.Errorf("finalize after new-order: Location %q, want %s/order/1", loc, base)
	}
	if !strings.Contains(body, `"status":"processing"`) {
		t.Errorf("body changed: %q", body)
	}
	post("/order/2")
	if loc, _ := post("/finalize/2"); loc != base+"/order/2" {
		t.Errorf("finalize after fetching the order: Location %q, want %s/order/2", loc, base)
	}
	if loc, _ := post("/finalize/3"); loc != base+"/elsewhere" {
		t.Errorf("a Location the CA sent: %q, want it kept", loc)
	}
}
