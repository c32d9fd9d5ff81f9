package bookinfo

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProductpageCallsInSequence: reviews is asked only after details has
// answered, one call after the other.
func TestProductpageCallsInSequence(t *testing.T) {
	var mu sync.Mutex
	var events []string
	note := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	details := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		note("details start")
		time.Sleep(50 * time.Millisecond)
		note("details end")
		answerJSON(200, detailsBody0)(0, w, nil)
	})
	reviews := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		note("reviews start")
		answerJSON(200, reviewsBodyV1)(0, w, nil)
	})
	pp := productpageWith(t, Config{}, details.server, reviews.server, closedAddr(t))
	if status, _, _ := get(t, nil, "GET", pp.url("/productpage"), nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(events, ", "); got != "details start, details end, reviews start" {
		t.Fatalf("upstream calls happened as: %s", got)
	}
}

// TestProductpageUpstreamFailures: the page stays 200 and says what failed;
// reviews is tried twice, details once; the counter records the outcome.
func TestProductpageUpstreamFailures(t *testing.T) {
	cases := []struct {
		name                      string
		details, reviews          func(int, http.ResponseWriter, *http.Request)
		wantDetailsN, wantReviews int
		contains                  []string
		absent                    []string
		metrics                   []string
	}{
		{
			name:    "both fail",
			details: answerJSON(503, `{"error":"x"}`), reviews: answerJSON(503, "no"),
			wantDetailsN: 1, wantReviews: 2,
			contains: []string{"Error fetching product details!", "Sorry, product details are currently unavailable for this book.",
				"Error fetching product reviews!", "Sorry, product reviews are currently unavailable for this book.",
				"The Comedy of Errors"},
			absent:  []string{"Book Details", "Book Reviews"},
			metrics: []string{`request_result_total{destination_app="details",response_code="503"} 1.0`, `request_result_total{destination_app="reviews",response_code="503"} 1.0`},
		},
		{
			name:    "reviews recovers on the second try",
			details: answerJSON(200, detailsBody0),
			reviews: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 0 {
					answerJSON(500, "boom")(n, w, r)
					return
				}
				answerJSON(200, reviewsBodyV1)(n, w, r)
			},
			wantDetailsN: 1, wantReviews: 2,
			contains: []string{"Book Details", "Book Reviews", "Reviewer2", `<td class="ok">200 OK</td><td>2</td>`},
			metrics:  []string{`request_result_total{destination_app="reviews",response_code="200"} 1.0`},
		},
		{
			name:    "200 that is not JSON counts as failed",
			details: answerJSON(200, "<html>"), reviews: answerJSON(200, reviewsBodyV1),
			wantDetailsN: 1, wantReviews: 1,
			contains: []string{"Error fetching product details!", "Book Reviews", `<td class="bad">200 without JSON (counted as 500)</td><td>1</td>`},
			metrics:  []string{`request_result_total{destination_app="details",response_code="500"} 1.0`},
		},
		{
			name:    "reviews times out twice",
			details: answerJSON(200, detailsBody0),
			reviews: func(n int, w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(2 * time.Second):
				case <-r.Context().Done():
				}
			},
			wantDetailsN: 1, wantReviews: 2,
			contains: []string{"Book Details", "Sorry, product reviews are currently unavailable for this book.",
				`<td class="bad">no answer (counted as 500)</td><td>2</td>`},
			metrics: []string{`request_result_total{destination_app="reviews",response_code="500"} 1.0`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			details := newRecorder(t, c.details)
			reviews := newRecorder(t, c.reviews)
			pp := productpageWith(t, Config{UpstreamTimeout: 150 * time.Millisecond}, details.server, reviews.server, closedAddr(t))
			status, _, page := get(t, nil, "GET", pp.url("/productpage"), nil)
			if status != 200 {
				t.Fatalf("page status %d, want 200 whatever the upstreams did", status)
			}
			if n := len(details.requests()); n != c.wantDetailsN {
				t.Errorf("details asked %d times, want %d", n, c.wantDetailsN)
			}
			if n := len(reviews.requests()); n != c.wantReviews {
				t.Errorf("reviews asked %d times, want %d", n, c.wantReviews)
			}
			for _, s := range c.contains {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range c.absent {
				if strings.Contains(page, s) {
					t.Errorf("page has %q", s)
				}
			}
			_, _, metrics := get(t, nil, "GET", pp.url("/metrics"), nil)
			for _, s := range c.metrics {
				if !strings.Contains(metrics, s+"\n") {
					t.Errorf("metrics lack %q:\n%s", s, metrics)
				}
			}
		})
	}
}

// TestProductpageUnreachableUpstreams: nothing listening is a failed call
// (500 in the API) and not an error page.
func TestProductpageUnreachableUpstreams(t *testing.T) {
	pp := productpageWith(t, Config{}, closedAddr(t), closedAddr(t), closedAddr(t))
	status, _, page := get(t, nil, "GET", pp.url("/productpage"), nil)
	if status != 200 || !strings.Contains(page, "Error fetching product details!") || !strings.Contains(page, "Error fetching product reviews!") {
		t.Fatalf("page = %d", status)
	}
	for path, want := range map[string]string{
		"/api/v1/products/0":         errDetailsJSON,
		"/api/v1/products/0/reviews": errReviewsJSON,
		"/api/v1/products/0/ratings": errRatingsJSON,
	} {
		if status, _, body := get(t, nil, "GET", pp.url(path), nil); status != 500 || body != want {
			t.Errorf("%s = %d %s, want 500 %s", path, status, body, want)
		}
	}
}

// TestProductpageConnections counts TCP connections at real listeners: one
// per upstream call by default (a retried call opens another), reused with
// PoolUpstreams.
func TestProductpageConnections(t *testing.T) {
	for _, pool := range []bool{false, true} {
		details := newRecorder(t, answerJSON(200, detailsBody0))
		reviews := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n%2 == 0 {
				answerJSON(503, "later")(n, w, r) // every page retries reviews once
				return
			}
			answerJSON(200, reviewsBodyV1)(n, w, r)
		})
		pp := productpageWith(t, Config{PoolUpstreams: pool}, details.server, reviews.server, closedAddr(t))
		const pages = 4
		for range pages {
			if status, _, page := get(t, nil, "GET", pp.url("/productpage"), nil); status != 200 || !strings.Contains(page, "Book Reviews") {
				t.Fatalf("pool=%v: page %d", pool, status)
			}
		}
		dn, rn := details.ln.accepts.Load(), reviews.ln.accepts.Load()
		if len(reviews.requests()) != 2*pages {
			t.Fatalf("reviews got %d requests, want %d", len(reviews.requests()), 2*pages)
		}
		if !pool && (dn != pages || rn != 2*pages) {
			t.Errorf("without pooling: %d details and %d reviews connections for %d pages, want %d and %d", dn, rn, pages, pages, 2*pages)
		}
		if pool && (dn != 1 || rn != 1) {
			t.Errorf("with pooling: %d details and %d reviews connections, want 1 each", dn, rn)
		}
	}
}

// TestProductpageDialsThroughDialContext: every upstream connection goes
// through Config.DialContext with the logical address, and the request still
// names the logical service in its Host header, as behind Istio's redirect.
func TestProductpageDialsThroughDialContext(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	sidecar := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/details/") {
			answerJSON(200, detailsBody0)(0, w, r)
			return
		}
		answerJSON(200, reviewsBodyV1)(0, w, r)
	})
	var dialed []string
	h, err := NewHandler(Config{Service: "productpage", Getenv: envOf("SERVICES_DOMAIN", "bookinfo.svc"),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, sidecar.addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	pp := serveHandler(t, h)
	if _, _, page := get(t, nil, "GET", pp.url("/productpage"), nil); !strings.Contains(page, "Book Reviews") {
		t.Fatal("page did not render through the redirecting dialer")
	}
	mu.Lock()
	defer mu.Unlock()
	want := "details.bookinfo.svc:9080 reviews.bookinfo.svc:9080"
	if got := strings.Join(dialed, " "); got != want {
		t.Errorf("dialed %q, want %q", got, want)
	}
	if got := strings.Join(hosts, " "); got != want {
		t.Errorf("Host headers %q, want %q", got, want)
	}
}

// TestPageSize: the page is about the original's size, ≈15 KB with starred
// reviews and ≈9.4 KB without.
func TestPageSize(t *testing.T) {
	for _, c := range []struct {
		version  string
		min, max int
	}{{"v1", 8000, 10500}, {"v3", 13500, 16500}} {
		a := startApp(t, c.version, Config{})
		_, _, page := get(t, nil, "GET", a.productpage.url("/productpage"), nil)
		if len(page) < c.min || len(page) > c.max {
			t.Errorf("%s page is %d bytes, want %d..%d", c.version, len(page), c.min, c.max)
		}
		stars := strings.Count(page, `class="star `)
		if (c.version == "v1") != (stars == 0) || (c.version == "v3" && stars != 10) {
			t.Errorf("%s page draws %d stars", c.version, stars)
		}
	}
}

// TestProductpageConfigErrors: bad configuration is refused by name.
func TestProductpageConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Service: "productpage", Getenv: envOf("REVIEWS_SERVICE_PORT", "http")}, "REVIEWS_SERVICE_PORT"},
		{Config{Service: "productpage", Getenv: envOf("DETAILS_SERVICE_PORT", "70000")}, "DETAILS_SERVICE_PORT"},
		{Config{Service: "productpage", Getenv: envOf(), SessionKey: []byte("short")}, "session key"},
		{Config{Service: "productpage", Getenv: envOf(), UpstreamTimeout: -time.Second}, "negative"},
		{Config{Service: "frontend"}, `unknown service "frontend"`},
		{Config{}, "no service named"},
	} {
		if _, err := NewHandler(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewHandler(%+v) = %v, want an error mentioning %q", c.cfg, err, c.want)
		}
	}
	h, err := NewHandler(Config{Service: "productpage", Getenv: envOf()})
	if err != nil {
		t.Fatal(err)
	}
	p := h.(*productpage)
	if p.timeout != 3*time.Second || p.attempts != 2 || p.details != "details:9080" || p.reviews != "reviews:9080" || p.ratings != "ratings:9080" {
		t.Errorf("defaults: timeout %v attempts %d upstreams %s %s %s", p.timeout, p.attempts, p.details, p.reviews, p.ratings)
	}
}
