package bookinfo

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type reviewsDoc struct {
	ID          any    `json:"id"`
	Podname     string `json:"podname"`
	Clustername string `json:"clustername"`
	Reviews     []struct {
		Reviewer string                     `json:"reviewer"`
		Rating   map[string]json.RawMessage `json:"rating"`
	} `json:"reviews"`
}

// TestReviewsVersions: v1 has no rating keys and never calls ratings; v2 and
// v3 draw the stars ratings gives, black and red; when ratings fails every
// review carries the error object and the status stays 200.
func TestReviewsVersions(t *testing.T) {
	ok := answerJSON(200, `{"id":0,"ratings":{"Reviewer1":3,"Reviewer2":1}}`)
	cases := []struct {
		name     string
		version  string
		env      []string
		ratings  func(int, http.ResponseWriter, *http.Request)
		calls    int
		want     [2]string // each review's rating object, "" for none
		timeout  time.Duration
		hostname string
	}{
		{name: "v1", version: "v1", ratings: ok, calls: 0, timeout: 10 * time.Second},
		{name: "v2", version: "v2", ratings: ok, calls: 1, want: [2]string{`{"color":"black","stars":3}`, `{"color":"black","stars":1}`}, timeout: 10 * time.Second},
		{name: "v3", version: "v3", ratings: ok, calls: 1, want: [2]string{`{"color":"red","stars":3}`, `{"color":"red","stars":1}`}, timeout: 2500 * time.Millisecond},
		{name: "v3 ratings 503", version: "v3", ratings: answerJSON(503, `{"error":"Service unavailable"}`), calls: 1,
			want: [2]string{`{"error":"Ratings service is currently unavailable"}`, `{"error":"Ratings service is currently unavailable"}`}, timeout: 2500 * time.Millisecond},
		{name: "v2 reviewer missing", version: "v2", ratings: answerJSON(200, `{"id":0,"ratings":{"Reviewer2":4}}`), calls: 1,
			want: [2]string{`{"error":"Ratings service is currently unavailable"}`, `{"color":"black","stars":4}`}, timeout: 10 * time.Second},
		{name: "v2 garbage from ratings", version: "v2", ratings: answerJSON(200, `not json`), calls: 1,
			want: [2]string{`{"error":"Ratings service is currently unavailable"}`, `{"error":"Ratings service is currently unavailable"}`}, timeout: 10 * time.Second},
		{name: "env overrides the version", version: "v1", env: []string{"ENABLE_RATINGS", "TRUE", "STAR_COLOR", "green", "HOSTNAME", "reviews-7f9", "CLUSTER_NAME", "east"},
			ratings: ok, calls: 1, want: [2]string{`{"color":"green","stars":3}`, `{"color":"green","stars":1}`}, timeout: 2500 * time.Millisecond, hostname: "reviews-7f9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ratings := newRecorder(t, c.ratings)
			env := append([]string{"RATINGS_HOSTNAME", ratings.host, "RATINGS_SERVICE_PORT", ratings.port}, c.env...)
			h, err := NewHandler(Config{Service: "reviews", Version: c.version, Getenv: envOf(env...)})
			if err != nil {
				t.Fatal(err)
			}
			if got := h.(*reviews).timeout; got != c.timeout {
				t.Errorf("ratings timeout %v, want %v", got, c.timeout)
			}
			rv := serveHandler(t, h)
			status, _, body := get(t, nil, "GET", rv.url("/reviews/0"), nil)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if n := len(ratings.requests()); n != c.calls {
				t.Errorf("ratings called %d times, want %d", n, c.calls)
			}
			var doc reviewsDoc
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if doc.ID != "0" {
				t.Errorf("id = %#v, want the string \"0\"", doc.ID)
			}
			wantPod, wantCluster := "null", "null"
			if c.hostname != "" {
				wantPod, wantCluster = c.hostname, "east"
			}
			if doc.Podname != wantPod || doc.Clustername != wantCluster {
				t.Errorf("podname %q clustername %q, want %q %q", doc.Podname, doc.Clustername, wantPod, wantCluster)
			}
			if len(doc.Reviews) != 2 || doc.Reviews[0].Reviewer != "Reviewer1" || doc.Reviews[1].Reviewer != "Reviewer2" {
				t.Fatalf("reviews: %s", body)
			}
			for i, r := range doc.Reviews {
				got := ""
				if r.Rating != nil {
					b, _ := json.Marshal(r.Rating)
					got = string(b)
				}
				if got != c.want[i] {
					t.Errorf("review %d rating %s, want %s", i+1, got, c.want[i])
				}
			}
			if c.version == "v1" && c.env == nil && strings.Contains(body, "rating") {
				t.Errorf("v1 body mentions rating: %s", body)
			}
		})
	}
}

// TestReviewsRatingsTimeout: a ratings answer slower than the timeout counts
// as ratings unavailable, and reviews still answers 200.
func TestReviewsRatingsTimeout(t *testing.T) {
	ratings := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	rv := startService(t, Config{Service: "reviews", Version: "v3", RatingsTimeout: 100 * time.Millisecond,
		Getenv: envOf("RATINGS_HOSTNAME", ratings.host, "RATINGS_SERVICE_PORT", ratings.port)})
	start := time.Now()
	status, _, body := get(t, nil, "GET", rv.url("/reviews/0"), nil)
	if status != 200 || strings.Count(body, "Ratings service is currently unavailable") != 2 {
		t.Fatalf("reviews = %d %s", status, body)
	}
	if waited := time.Since(start); waited > 1500*time.Millisecond {
		t.Errorf("reviews waited %v for a 100ms timeout", waited)
	}
}

func TestReviewsConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Service: "reviews", Getenv: envOf()}, `version ""`},
		{Config{Service: "reviews", Version: "v4", Getenv: envOf()}, `version "v4"`},
		{Config{Service: "reviews", Version: "v2", Getenv: envOf("RATINGS_SERVICE_PORT", "x")}, "RATINGS_SERVICE_PORT"},
		{Config{Service: "reviews", Version: "v2", Getenv: envOf("STAR_COLOR", "red\n")}, "STAR_COLOR"},
	} {
		if _, err := NewHandler(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewHandler(%+v) = %v, want an error mentioning %q", c.cfg, err, c.want)
		}
	}
	// SERVICE_VERSION stands in for an empty Version.
	if _, err := NewHandler(Config{Service: "reviews", Getenv: envOf("SERVICE_VERSION", "v2")}); err != nil {
		t.Errorf("SERVICE_VERSION=v2: %v", err)
	}
}
