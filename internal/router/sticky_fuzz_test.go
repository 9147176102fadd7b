package router

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzStickyCookie checks the sticky cookie against any cookie name and
// any Cookie header line: the cookie it sets round-trips through a
// browser's parse back to its slot, lookup agrees with cookieValue,
// and strip removes the sticky cookie and only it.
func FuzzStickyCookie(f *testing.F) {
	f.Add("bg_slot", uint8(1), "a=1; bg_slot=green; b=2")
	f.Fuzz(func(t *testing.T, name string, slot uint8, line string) {
		st, err := newSticky(&StickyOptions{Cookie: name})
		if err != nil {
			return
		}
		i := int(slot) % numSlots
		want := string(allSlots()[i])

		// What pin sets, parsed as a browser does, sent back alone and
		// among the client's other cookies.
		c, err := http.ParseSetCookie(st.setCookie[i][0])
		if err != nil || c.Name != name || c.Value != want {
			t.Fatalf("Set-Cookie %q parses to %+v, %v; want %s=%s", st.setCookie[i][0], c, err, name, want)
		}
		back := c.Name + "=" + c.Value
		for _, lines := range [][]string{{back}, {back, line}} {
			if got, ok := st.lookup(http.Header{"Cookie": lines}); !ok || got != want {
				t.Fatalf("lookup in %q = %q, %v; want %q", lines, got, ok, want)
			}
		}

		h := http.Header{"Cookie": {line}}
		gotV, gotOK := st.lookup(h)
		wantV, wantOK := cookieValue(line, name)
		if gotV != wantV || gotOK != wantOK {
			t.Fatalf("lookup(%q) = %q, %v; cookieValue = %q, %v", line, gotV, gotOK, wantV, wantOK)
		}
		st.strip(h)
		if v, ok := st.lookup(h); ok {
			t.Fatalf("after strip of %q, lookup still finds %q in %q", line, v, h["Cookie"])
		}
		if others := otherCookies(line, name); gotOK && others != otherCookies(strings.Join(h["Cookie"], "; "), name) {
			t.Fatalf("strip of %q kept %q; want the other cookies %q", line, h["Cookie"], others)
		}
	})
}

// otherCookies is the non-empty parts of a Cookie line not named name,
// trimmed, joined with "; ".
func otherCookies(line, name string) string {
	var kept []string
	for part := range strings.SplitSeq(line, ";") {
		p := strings.TrimSpace(part)
		if k, _, _ := strings.Cut(p, "="); p != "" && k != name {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "; ")
}
