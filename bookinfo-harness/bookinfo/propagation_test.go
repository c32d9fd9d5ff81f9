package bookinfo

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// incomingTrace is a request's tracing and session headers, each name in an
// odd case on the wire, as a client or proxy might send them.
var incomingTrace = []string{
	"X-REQUEST-ID: req-1",
	"x-ot-span-context: ot-1",
	"X-Datadog-Trace-Id: dd-t", "x-datadog-parent-id: dd-p", "X-DATADOG-SAMPLING-PRIORITY: 1",
	"TraceParent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "TRACESTATE: congo=t61rcWkgMzE",
	"X-Cloud-Trace-Context: 105445aa7843bc8bf206b120001000/1;o=1",
	"Grpc-Trace-Bin: AAEC",
	"SW8: 1-abc",
	"User-Agent: odd-agent/1.0",
	"AUTHORIZATION: Bearer t0ken",
	"Jwt: j.w.t",
	"Cookie: flavour=oat",
}

// wantForwarded is what every upstream must receive from incomingTrace.
var wantForwarded = map[string]string{
	"X-Request-Id": "req-1", "X-Ot-Span-Context": "ot-1",
	"X-Datadog-Trace-Id": "dd-t", "X-Datadog-Parent-Id": "dd-p", "X-Datadog-Sampling-Priority": "1",
	"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Tracestate": "congo=t61rcWkgMzE",
	"X-Cloud-Trace-Context": "105445aa7843bc8bf206b120001000/1;o=1", "Grpc-Trace-Bin": "AAEC", "Sw8": "1-abc",
	"User-Agent": "odd-agent/1.0", "Authorization": "Bearer t0ken", "Jwt": "j.w.t",
}

func checkForwarded(t *testing.T, who string, h http.Header, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := h.Values(name); len(got) != 1 || got[0] != v {
			t.Errorf("%s received %s = %q, want [%q]", who, name, got, v)
		}
	}
}

// TestProductpagePropagatesHeaders checks, at real upstream servers on
// loopback, that productpage forwards the whole list (names matched in any
// case), B3 only when valid, and end-user only for a signed-in user.
func TestProductpagePropagatesHeaders(t *testing.T) {
	details := newRecorder(t, answerJSON(200, detailsBody0))
	reviews := newRecorder(t, answerJSON(200, reviewsBodyV1))
	ratings := newRecorder(t, answerJSON(200, `{"id":0,"ratings":{}}`))
	pp := productpageWith(t, Config{}, details.server, reviews.server, ratings.server)

	validB3 := []string{"X-B3-TRACEID: 80F198EE56343BA8", "x-b3-spanid: E457B5A2E4D86BD1", "X-B3-Sampled: 1", "X-B3-ParentSpanId: 05e3ac9a4f6e3b90"}
	cases := []struct {
		name    string
		extra   []string
		wantB3  map[string]string // nil: no x-b3-* may arrive
		path    string
		targets []*recorder
	}{
		{"page, valid B3", validB3, map[string]string{"X-B3-Traceid": "000000000000000080f198ee56343ba8", "X-B3-Spanid": "e457b5a2e4d86bd1", "X-B3-Sampled": "1"},
			"/productpage", []*recorder{details, reviews}},
		{"page, single b3 header, debug", []string{"B3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d"},
			map[string]string{"X-B3-Traceid": "4bf92f3577b34da6a3ce929d0e0e4736", "X-B3-Spanid": "00f067aa0ba902b7", "X-B3-Sampled": "1"},
			"/productpage", []*recorder{details, reviews}},
		{"page, unsampled", []string{"x-b3-traceid: 4bf92f3577b34da6a3ce929d0e0e4736", "x-b3-spanid: 00f067aa0ba902b7"},
			map[string]string{"X-B3-Traceid": "4bf92f3577b34da6a3ce929d0e0e4736", "X-B3-Spanid": "00f067aa0ba902b7", "X-B3-Sampled": "0"},
			"/productpage", []*recorder{details, reviews}},
		{"page, invalid B3 trace id", []string{"x-b3-traceid: xyz", "x-b3-spanid: 00f067aa0ba902b7", "x-b3-sampled: 1"}, nil,
			"/productpage", []*recorder{details, reviews}},
		{"page, all-zero span id", []string{"x-b3-traceid: 4bf92f3577b34da6", "x-b3-spanid: 0000000000000000"}, nil,
			"/productpage", []*recorder{details, reviews}},
		{"api details", validB3, map[string]string{"X-B3-Traceid": "000000000000000080f198ee56343ba8", "X-B3-Spanid": "e457b5a2e4d86bd1", "X-B3-Sampled": "1"},
			"/api/v1/products/0", []*recorder{details}},
		{"api ratings", nil, nil, "/api/v1/products/0/ratings", []*recorder{ratings}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := map[*recorder]int{}
			for _, r := range c.targets {
				before[r] = len(r.requests())
			}
			hdrs := append(append([]string{}, incomingTrace...), c.extra...)
			hdrs = append(hdrs, "End-User: mallory") // a client cannot claim a user
			if status, _, body := get(t, nil, "GET", pp.url(c.path), nil, hdrs...); status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			for _, r := range c.targets {
				reqs := r.requests()
				if len(reqs) != before[r]+1 {
					t.Fatalf("upstream got %d requests, want 1", len(reqs)-before[r])
				}
				h := reqs[len(reqs)-1].header
				checkForwarded(t, reqs[len(reqs)-1].path, h, wantForwarded)
				if got := h.Values("Cookie"); len(got) != 1 || got[0] != "flavour=oat" {
					t.Errorf("Cookie = %q", got)
				}
				if got := h.Get("End-User"); got != "" {
					t.Errorf("end-user %q forwarded for a client that is not signed in", got)
				}
				for name := range h {
					if strings.HasPrefix(name, "X-B3-") && c.wantB3[name] == "" && c.wantB3 != nil {
						t.Errorf("unexpected %s: %q", name, h.Get(name))
					}
					if strings.HasPrefix(name, "X-B3-") && c.wantB3 == nil {
						t.Errorf("invalid B3 still propagated: %s: %q", name, h.Get(name))
					}
				}
				checkForwarded(t, reqs[len(reqs)-1].path, h, c.wantB3)
			}
		})
	}
}

// TestSignedInUserReachesUpstreams: after POST /login the session cookie makes
// productpage send end-user; after /logout it stops; a forged cookie does not.
func TestSignedInUserReachesUpstreams(t *testing.T) {
	details := newRecorder(t, answerJSON(200, detailsBody0))
	reviews := newRecorder(t, answerJSON(200, reviewsBodyV1))
	pp := productpageWith(t, Config{}, details.server, reviews.server, closedAddr(t))

	status, h, _ := get(t, nil, "POST", pp.url("/login"), strings.NewReader(url.Values{"username": {"jason"}}.Encode()),
		"Content-Type: application/x-www-form-urlencoded", "Referer: http://shop.example/productpage?u=1")
	if status != http.StatusFound || h.Get("Location") != "http://shop.example/productpage?u=1" {
		t.Fatalf("login = %d Location %q, want 302 to the Referer", status, h.Get("Location"))
	}
	var session string
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == sessionCookie {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("login set no session cookie")
	}
	_, _, page := get(t, nil, "GET", pp.url("/productpage"), nil, "Cookie: session="+session, "x-request-id: r2")
	if !strings.Contains(page, "Signed in as <strong>jason</strong>") {
		t.Error("page does not show the signed-in user")
	}
	for _, r := range []*recorder{details, reviews} {
		reqs := r.requests()
		h := reqs[len(reqs)-1].header
		if got := h.Values("End-User"); len(got) != 1 || got[0] != "jason" {
			t.Errorf("%s: end-user = %q, want [jason]", reqs[len(reqs)-1].path, got)
		}
		if got := h.Get("Cookie"); got != "session="+session {
			t.Errorf("cookie not forwarded: %q", got)
		}
	}

	// A cookie with a changed user but the old signature is refused.
	forged := strings.Replace(session, session[3:strings.LastIndexByte(session, '.')], "amFzb24y", 1)
	get(t, nil, "GET", pp.url("/productpage"), nil, "Cookie: session="+forged)
	if got := details.requests(); got[len(got)-1].header.Get("End-User") != "" {
		t.Error("forged session cookie accepted")
	}

	status, h, _ = get(t, nil, "GET", pp.url("/logout"), nil, "Cookie: session="+session, "Referer: /productpage")
	if status != http.StatusFound || h.Get("Location") != "/productpage" || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout = %d %q %q", status, h.Get("Location"), h.Get("Set-Cookie"))
	}

	// Names that could split a header line are refused at sign-in.
	status, _, _ = get(t, nil, "POST", pp.url("/login"), strings.NewReader("username=a%0d%0aX-Evil:%201"),
		"Content-Type: application/x-www-form-urlencoded")
	if status != http.StatusBadRequest {
		t.Errorf("login with CRLF in the name = %d, want 400", status)
	}
}

// TestReviewsPropagatesHeaders: reviews sends its whole list to ratings,
// including every x-b3-* header verbatim (valid or not) and end-user.
func TestReviewsPropagatesHeaders(t *testing.T) {
	ratings := newRecorder(t, answerJSON(200, `{"id":0,"ratings":{"Reviewer1":1,"Reviewer2":2}}`))
	rv := startService(t, Config{Service: "reviews", Version: "v2",
		Getenv: envOf("RATINGS_HOSTNAME", ratings.host, "RATINGS_SERVICE_PORT", ratings.port)})
	hdrs := append(append([]string{}, incomingTrace...),
		"X-B3-TraceId: NOT-HEX", "x-b3-spanid: s", "X-B3-PARENTSPANID: p", "x-b3-sampled: 1", "X-B3-Flags: 1", "END-USER: jason")
	status, _, body := get(t, nil, "GET", rv.url("/reviews/0"), nil, hdrs...)
	if status != 200 || !strings.Contains(body, `"rating": {"stars": 1, "color": "black"}`) {
		t.Fatalf("reviews = %d %s", status, body)
	}
	reqs := ratings.requests()
	if len(reqs) != 1 || reqs[0].path != "/ratings/0" {
		t.Fatalf("ratings got %d requests (%v)", len(reqs), reqs)
	}
	want := map[string]string{"X-B3-Traceid": "NOT-HEX", "X-B3-Spanid": "s", "X-B3-Parentspanid": "p", "X-B3-Sampled": "1",
		"X-B3-Flags": "1", "End-User": "jason", "Cookie": "flavour=oat", "Accept": "application/json"}
	for k, v := range wantForwarded {
		want[k] = v
	}
	checkForwarded(t, "ratings", reqs[0].header, want)
}

// TestPropagationMatchesAnyCase covers headers stored under non-canonical
// names, which only an in-process caller (not Go's server) can produce.
func TestPropagationMatchesAnyCase(t *testing.T) {
	in := readHeaders(http.Header{"x-REQUEST-id": {"a"}, "User-Agent": {"u"}, "jwt": {"j"}, "x-b3-TRACEID": {"80f198ee56343ba8"}, "X-B3-Spanid": {"e457b5a2e4d86bd1"}})
	if !in.odd {
		t.Fatal("non-canonical names not noticed")
	}
	got := map[string]string{}
	for _, h := range in.appendPropagated(nil, productpagePropagated) {
		got[h.name] = h.value
	}
	want := map[string]string{"x-request-id": "a", "User-Agent": "u", "jwt": "j"}
	if len(got) != len(want) {
		t.Errorf("propagated %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if c, ok := parseB3(in); !ok || string(c.spanID[:]) != "e457b5a2e4d86bd1" {
		t.Errorf("B3 under odd names not read: %v %+v", ok, c)
	}
}
