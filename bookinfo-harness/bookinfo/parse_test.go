package bookinfo

import (
	"encoding/json"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

func TestRubyInteger(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "42": "42", "-5": "-5", "+7": "7", "007": "7", "0x1F": "31", "0X1f": "31", "0b101": "5", "0o17": "15",
		"017": "15", "0d19": "19", "1_000": "1000", " 12 ": "12", "-0": "0", "0_7": "7",
		"123456789012345678901234567890": "123456789012345678901234567890",
		"abc":                            "", "": "", "08": "", "1__0": "", "_1": "", "1_": "", "0x": "", "1 2": "", "--1": "", "1.5": "", "0b2": "", "details": "",
	} {
		got, ok := rubyInteger(in)
		if (want == "") == ok || got != want {
			t.Errorf("rubyInteger(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestJSParseInt(t *testing.T) {
	// Expected values are Node's parseInt (null = NaN) through JSON.stringify.
	for in, want := range map[string]string{
		"0": "0", " 12": "12", "-3": "-3", "0x1F": "31", "1e5": "1", "12abc": "12", "+7": "7", "0?x=1": "0",
		"\u00a012": "12", "-0": "0", "-0x10": "-16", strings.Repeat("9", 400): "null",
		"abc": "NaN", "": "NaN", "0X": "NaN", "-": "NaN", "%31": "NaN",
	} {
		f, ok := jsParseInt(in)
		got := "NaN"
		if ok {
			got = jsNumberKey(f)
		}
		if got != want {
			t.Errorf("jsParseInt(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzRubyInteger compares rubyInteger with math/big's base-0 parser, which
// follows the same literal rules (prefixes, leading-zero octal, underscores
// between digits) for inputs without white space or Ruby's 0d prefix.
func FuzzRubyInteger(f *testing.F) {
	for _, s := range []string{"0", "-12", "0x1F", "0b1_0", "017", "1__2", "0d9", " 5 ", "0_", "99999999999999999999", "0x_1"} {
		f.Add(s)
	}
	canonical := regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := rubyInteger(s)
		if ok && !canonical.MatchString(got) {
			t.Fatalf("rubyInteger(%q) = %q, not a canonical decimal", s, got)
		}
		if strings.ContainsAny(s, " \t\n\v\f\r") || strings.Contains(strings.ToLower(s), "0d") ||
			regexp.MustCompile(`0[xXbBoO]_`).MatchString(s) || len(s) > maxRadixDigits {
			return // outside what big's base-0 syntax shares with Ruby
		}
		var ref big.Int
		_, refOK := ref.SetString(s, 0)
		if refOK != ok || (ok && ref.String() != got) {
			t.Fatalf("rubyInteger(%q) = %q, %v; math/big says %q, %v", s, got, ok, ref.String(), refOK)
		}
	})
}

// FuzzJSParseInt compares jsParseInt with a regular-expression statement of
// parseInt for ASCII input.
func FuzzJSParseInt(f *testing.F) {
	for _, s := range []string{"0", " 12", "-0x1f", "0x", "12abc", "1e5", "+", "0?x=1", strings.Repeat("7", 30)} {
		f.Add(s)
	}
	hexRe := regexp.MustCompile(`^[ \t\n\v\f\r]*([+-]?)0[xX]([0-9a-fA-F]*)`)
	decRe := regexp.MustCompile(`^[ \t\n\v\f\r]*([+-]?)([0-9]*)`)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := jsParseInt(s)
		for _, c := range []byte(s) {
			if c >= 0x80 {
				return // the reference covers ASCII white space only
			}
		}
		var sign, digits string
		base := 10
		if m := hexRe.FindStringSubmatch(s); m != nil {
			sign, digits, base = m[1], m[2], 16
		} else {
			m := decRe.FindStringSubmatch(s)
			sign, digits = m[1], m[2]
		}
		if digits == "" {
			if ok {
				t.Fatalf("jsParseInt(%q) = %v, want NaN", s, got)
			}
			return
		}
		var n big.Int
		n.SetString(digits, base)
		want, _ := new(big.Float).SetInt(&n).Float64()
		if sign == "-" {
			want = -want
		}
		if !ok || (got != want && !(math.IsInf(got, 0) && math.IsInf(want, 0))) {
			t.Fatalf("jsParseInt(%q) = %v, %v; want %v", s, got, ok, want)
		}
	})
}

// FuzzSessionCookie: any cookie value either decodes to the one user whose
// encoding it is, or is refused; any acceptable user name round-trips.
func FuzzSessionCookie(f *testing.F) {
	codec, err := newSessionCodec([]byte("0123456789abcdef-fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	for _, u := range []string{"jason", "", "a b", "ünï"} {
		f.Add(codec.encode(u), u)
	}
	f.Add("v1..", "x")
	f.Add("v1.amFzb24.AAAA", "\x00")
	f.Fuzz(func(t *testing.T, cookie, user string) {
		if u, err := codec.decode(cookie); err == nil && codec.encode(u) != cookie {
			t.Fatalf("decode(%q) = %q, whose cookie is %q", cookie, u, codec.encode(u))
		}
		if checkUser(user) == nil {
			if u, err := codec.decode(codec.encode(user)); err != nil || u != user {
				t.Fatalf("round trip of %q = %q, %v", user, u, err)
			}
		}
	})
}

// FuzzParseB3: whatever the headers hold, an accepted context is well formed.
func FuzzParseB3(f *testing.F) {
	f.Add("80f198ee56343ba8", "e457b5a2e4d86bd1", "1", "", "")
	f.Add("", "", "", "", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-05e3ac9a4f6e3b90")
	f.Add("0000000000000000", "0000000000000001", "d", "1", "")
	f.Add("", "", "", "", "a-b-c-d-e")
	hex := regexp.MustCompile(`^[0-9a-f]+$`)
	f.Fuzz(func(t *testing.T, trace, span, sampled, flags, single string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-B3-Traceid": trace, "X-B3-Spanid": span, "X-B3-Sampled": sampled, "X-B3-Flags": flags, "B3": single} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		c, ok := parseB3(readHeaders(h))
		if !ok {
			return
		}
		tid, sid := string(c.traceID[:]), string(c.spanID[:])
		if !hex.MatchString(tid) || !hex.MatchString(sid) || allZero(c.traceID[:]) || allZero(c.spanID[:]) {
			t.Fatalf("accepted malformed context %q %q", tid, sid)
		}
		if single == "" && !strings.HasSuffix(tid, strings.ToLower(trace)) {
			t.Fatalf("trace id %q does not carry the incoming %q", tid, trace)
		}
	})
}

// FuzzParseProductPath: an accepted API path names one id and one resource,
// and rebuilding it gives the path back.
func FuzzParseProductPath(f *testing.F) {
	for _, s := range []string{"/api/v1/products/0", "/api/v1/products/0/reviews", "/api/v1/products//ratings", "/api/v1/products/a/b/c", "/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id, what, ok := parseProductPath(path)
		if !ok {
			return
		}
		if id == "" || strings.Contains(id, "/") {
			t.Fatalf("parseProductPath(%q) id %q", path, id)
		}
		rebuilt := "/api/v1/products/" + id
		switch what {
		case "details":
		case "reviews", "ratings":
			rebuilt += "/" + what
		default:
			t.Fatalf("parseProductPath(%q) resource %q", path, what)
		}
		if rebuilt != path {
			t.Fatalf("parseProductPath(%q) = %q %q", path, id, what)
		}
	})
}

// FuzzDetailsPath: details answers any path with 200 (and the id Ruby reads),
// 400 or 404, always well-formed JSON for the first two.
func FuzzDetailsPath(f *testing.F) {
	for _, s := range []string{"/details/0", "/details/0x10/", "/details", "/health/x", "/detailsx", "/details/a b"} {
		f.Add(s)
	}
	d := newDetails()
	f.Fuzz(func(t *testing.T, path string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = path
		w := httptest.NewRecorder()
		d.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400:
			var doc map[string]any
			dec := json.NewDecoder(w.Body)
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%q: invalid JSON: %v", path, err)
			}
			if w.Code == 200 && mounted(path, "/details") {
				want, _ := rubyInteger(lastRubySegment(path))
				if id := doc["id"].(json.Number).String(); id != want {
					t.Fatalf("%q: id %s, want %s", path, id, want)
				}
			}
		case 404:
		default:
			t.Fatalf("%q: status %d", path, w.Code)
		}
	})
}

// FuzzRatingsPost: a POST either is refused with 400 or stores a value that a
// GET returns unchanged, as valid JSON.
func FuzzRatingsPost(f *testing.F) {
	for _, s := range []string{`{"Reviewer1":5}`, `[1,2]`, `"x"`, `{"a":1e400}`, `{`, ``, `{"a":"\ud800"}`} {
		f.Add("/ratings/3", s)
	}
	f.Add("/ratings/0x", "{}")
	f.Add("/ratings/ 1", "null")
	h, err := NewHandler(Config{Service: "ratings", Getenv: envOf()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/ratings/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return // Go's server refuses such a request line before any handler
		}
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.URL, req.RequestURI = u, path
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var tr jsontree.Tree
		switch w.Code {
		case 400, 413:
			return
		case 200:
		default:
			t.Fatalf("POST %q %q: status %d", path, body, w.Code)
		}
		if tr.Parse(body) != nil || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("POST %q %q: accepted, answered %s", path, body, w.Body)
		}
		g := httptest.NewRequest("GET", "/", nil)
		g.URL, g.RequestURI = u, path
		gw := httptest.NewRecorder()
		h.ServeHTTP(gw, g)
		if gw.Code != 200 || gw.Body.String() != w.Body.String() {
			t.Fatalf("GET after POST %q = %d %s, want %s", path, gw.Code, gw.Body, w.Body)
		}
	})
}

// FuzzReviewsStars: whatever ratings answers, reviews reads two star counts
// and prints a JSON body around them.
func FuzzReviewsStars(f *testing.F) {
	for _, s := range []string{`{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`, `{"ratings":{"Reviewer1":4.9,"Reviewer2":-1}}`,
		`{"ratings":[]}`, `[]`, `{"ratings":{"Reviewer1":1e300}}`, `x`} {
		f.Add(s)
	}
	h, err := NewHandler(Config{Service: "reviews", Version: "v2", Getenv: envOf()})
	if err != nil {
		f.Fatal(err)
	}
	rv := h.(*reviews)
	f.Fuzz(func(t *testing.T, body string) {
		var tr jsontree.Tree
		s1, s2 := starsFrom(&tr, body)
		b := rv.appendRating(rv.appendRating([]byte(`[{"a":1`), s1), s2)
		b = append(b, '}', ']')
		if !json.Valid(b) {
			t.Fatalf("stars %d %d printed as %s", s1, s2, b)
		}
		for _, s := range []int{s1, s2} {
			if s < math.MinInt32 || s > math.MaxInt32 {
				t.Fatalf("star count %d out of int range", s)
			}
		}
	})
}

// FuzzPage: whatever details and reviews answer, the page renders.
func FuzzPage(f *testing.F) {
	f.Add(detailsBody0, reviewsBodyV3)
	f.Add(`{"pages":[1,{"a":null}],"type":true}`, `{"reviews":[{"text":"<script>","rating":{"stars":"5","color":"\" onload=x"}},{"rating":{"error":7}}]}`)
	f.Add(`[]`, `{"reviews":{}}`)
	f.Fuzz(func(t *testing.T, details, reviews string) {
		var dt, rt jsontree.Tree
		if dt.Parse(details) != nil || rt.Parse(reviews) != nil {
			return
		}
		var p pageData
		p.fill("jason", dt.Root(), rt.Root(), upstreamCall{Service: "details", OK: true, Answer: "200 OK"}, upstreamCall{Service: "reviews", Answer: "503 Service Unavailable"})
		var out strings.Builder
		if err := pageTemplate.Execute(&out, &p); err != nil {
			t.Fatalf("render: %v", err)
		}
		if strings.Contains(out.String(), "<script>") {
			t.Fatalf("upstream text reached the page unescaped")
		}
		if !strings.Contains(out.String(), "The Comedy of Errors") {
			t.Fatal("page lacks the title")
		}
	})
}

func TestAppendPromFloat(t *testing.T) {
	// prometheus_client's floatToGoString.
	for f, want := range map[float64]string{1: "1.0", 123456: "123456.0", 1234567: "1.234567e+06", 1.7e9: "1.7e+09",
		1795585713.6698098: "1.7955857136698098e+09", 0.5: "0.5"} {
		if got := string(appendPromFloat(nil, f)); got != want {
			t.Errorf("appendPromFloat(%v) = %s, want %s", f, got, want)
		}
	}
}
