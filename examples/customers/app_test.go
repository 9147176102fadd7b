package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestGenerationsShareOneTable: on both databases, with 0002 expanded,
// v1 and v2 serve side by side and each reads what the other wrote.
func TestGenerationsShareOneTable(t *testing.T) {
	for _, dialect := range []string{"postgres", "sqlite"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			url := "sqlite:" + filepath.Join(t.TempDir(), "app.db")
			if dialect == "postgres" {
				url = pgtest.URL(t)
			}
			expand(t, url, dialect, "0001_customers")
			v1 := serveGen(t, url, genV1)
			if h := call(t, serveGen(t, url, genV2), "GET", "/health", "", http.StatusOK); h["schema_ready"] != false {
				t.Errorf("v2 health before 0002 is expanded = %v, want schema_ready false", h)
			}
			old := call(t, v1, "POST", "/customers", `{"name":"Ann","address":"12 Main St, Springfield, IL 62701"}`, http.StatusCreated)

			expand(t, url, dialect, "0002_split_address")
			v2 := serveGen(t, url, genV2)
			if h := call(t, v2, "GET", "/health", "", http.StatusOK); h["schema_ready"] != true {
				t.Fatalf("v2 health after expand = %v", h)
			}
			// The backfill split v1's row written before the expand.
			got := call(t, v2, "GET", path(old), "", http.StatusOK)
			if got["street_address"] != "12 Main St" || got["city"] != "Springfield" || got["state"] != "IL" || got["zip_code"] != "62701" {
				t.Errorf("v2 reads the backfilled row as %v", got)
			}
			// Each writes; each reads the other's write.
			fromV1 := call(t, v1, "POST", "/customers", `{"name":"Bob","address":"1 Elm St, Portland, OR 97201"}`, http.StatusCreated)
			fromV2 := call(t, v2, "POST", "/customers", `{"name":"Cy","street_address":"2 Pine Rd","city":"Boise","state":"ID","zip_code":"83701"}`, http.StatusCreated)
			if got := call(t, v2, "GET", path(fromV1), "", http.StatusOK); got["city"] != "Portland" {
				t.Errorf("v2 reads v1's insert as %v", got)
			}
			if got := call(t, v1, "GET", path(fromV2), "", http.StatusOK); got["address"] != "2 Pine Rd, Boise, ID 83701" {
				t.Errorf("v1 reads v2's insert as %v", got)
			}
			call(t, v2, "PUT", path(old), `{"street_address":"3 Birch Ln","city":"Reno","state":"NV","zip_code":"89501"}`, http.StatusOK)
			if got := call(t, v1, "GET", path(old), "", http.StatusOK); got["address"] != "3 Birch Ln, Reno, NV 89501" {
				t.Errorf("v1 reads v2's update as %v", got)
			}
			call(t, v1, "PUT", path(fromV2), `{"address":"9 Oak Ave, Austin, TX 73301"}`, http.StatusOK)
			if got := call(t, v2, "GET", path(fromV2), "", http.StatusOK); got["city"] != "Austin" || got["zip_code"] != "73301" {
				t.Errorf("v2 reads v1's update as %v", got)
			}
			// A body in the other generation's shape is refused.
			call(t, v1, "POST", "/customers", `{"name":"X","street_address":"a","city":"b","state":"c","zip_code":"d"}`, http.StatusBadRequest)
			db, err := migrate.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			set, err := migrate.Load(filepath.Join("migrations", dialect))
			if err != nil {
				t.Fatal(err)
			}
			if err := migrate.New(db, set, migrate.Options{}).Validate(ctx, nil); err != nil {
				t.Errorf("validate after writes from both generations: %v", err)
			}
		})
	}
}

func expand(t *testing.T, url, dialect, name string) {
	t.Helper()
	ctx := context.Background()
	db, err := migrate.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := migrate.Load(filepath.Join("migrations", dialect))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.New(db, set, migrate.Options{DutyCycle: 1}).Expand(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// serveGen runs one generation's handler on its own connection pool.
func serveGen(t *testing.T, url string, gen generation) *httptest.Server {
	t.Helper()
	st, err := openStore(context.Background(), url, gen)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: config{schema: string(gen), version: string(gen)}, store: st, log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() {
		srv.Close()
		if err := st.close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func path(c map[string]any) string {
	return "/customers/" + jsonNumber(c["id"])
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// call sends body (JSON, or none) and decodes the JSON object answered.
func call(t *testing.T, srv *httptest.Server, method, p, body string, want int) map[string]any {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, srv.URL+p, r)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, p, res.StatusCode, want, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, p, err, data)
	}
	return out
}
