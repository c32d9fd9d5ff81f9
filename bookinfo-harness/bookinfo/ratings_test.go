package bookinfo

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injected clock, coin and sleep for ratings' faults, so the
// tests neither wait 7 s nor 60 s.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	coin   float64
	slept  []time.Duration
	sleepE error
}

func (f *fakeClock) Now() time.Time   { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Rand() float64    { f.mu.Lock(); defer f.mu.Unlock(); return f.coin }
func (f *fakeClock) set(coin float64) { f.mu.Lock(); f.coin = coin; f.mu.Unlock() }
func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}
func (f *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept = append(f.slept, d)
	return f.sleepE
}

func ratingsWith(t *testing.T, version string, fc *fakeClock) *server {
	return startService(t, Config{Service: "ratings", Version: version, Getenv: envOf(), Now: fc.Now, Rand: fc.Rand, Sleep: fc.Sleep})
}

const ratings0 = `{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`

func TestRatingsFaulty(t *testing.T) {
	fc := &fakeClock{now: time.Unix(1000, 0)}
	rt := ratingsWith(t, "v-faulty", fc)
	for _, c := range []struct {
		coin   float64
		status int
		body   string
	}{{0.0, 503, `{"error":"Service unavailable"}`}, {0.5, 503, `{"error":"Service unavailable"}`}, {0.51, 200, ratings0}, {0.99, 200, ratings0}} {
		fc.set(c.coin)
		if status, _, body := get(t, nil, "GET", rt.url("/ratings/0"), nil); status != c.status || body != c.body {
			t.Errorf("coin %v: %d %s, want %d %s", c.coin, status, body, c.status, c.body)
		}
	}
	// Health and POST are never faulty.
	fc.set(0)
	if status, _, _ := get(t, nil, "GET", rt.url("/health"), nil); status != 200 {
		t.Errorf("health = %d", status)
	}
	if status, _, _ := get(t, nil, "POST", rt.url("/ratings/1"), strings.NewReader(`{}`)); status != 200 {
		t.Errorf("POST = %d", status)
	}
}

func TestRatingsDelayed(t *testing.T) {
	fc := &fakeClock{now: time.Unix(1000, 0)}
	rt := ratingsWith(t, "v-delayed", fc)
	fc.set(0.3)
	if status, _, body := get(t, nil, "GET", rt.url("/ratings/0"), nil); status != 200 || body != ratings0 {
		t.Errorf("delayed answer %d %s", status, body)
	}
	fc.set(0.7)
	get(t, nil, "GET", rt.url("/ratings/0"), nil)
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.slept) != 1 || fc.slept[0] != 7*time.Second {
		t.Errorf("slept %v, want one 7s delay", fc.slept)
	}
}

func TestRatingsUnavailableFlips(t *testing.T) {
	fc := &fakeClock{now: time.Unix(1000, 0)}
	rt := ratingsWith(t, "v-unavailable", fc)
	for _, c := range []struct {
		after  time.Duration
		status int
	}{{0, 200}, {59 * time.Second, 200}, {2 * time.Second, 503}, {58 * time.Second, 503}, {time.Second, 200}, {60 * time.Second, 503}} {
		fc.advance(c.after)
		if status, _, _ := get(t, nil, "GET", rt.url("/ratings/0"), nil); status != c.status {
			t.Errorf("at +%v: %d, want %d", fc.Now().Sub(time.Unix(1000, 0)), status, c.status)
		}
	}
}

func TestRatingsUnhealthy(t *testing.T) {
	fc := &fakeClock{now: time.Unix(1000, 0)}
	rt := ratingsWith(t, "v-unhealthy", fc)
	if status, _, _ := get(t, nil, "GET", rt.url("/health"), nil); status != 200 {
		t.Errorf("health at start = %d", status)
	}
	fc.advance(15*time.Minute + time.Second)
	if status, _, body := get(t, nil, "GET", rt.url("/health"), nil); status != 500 || body != `{"status":"Ratings is not healthy"}` {
		t.Errorf("health after 15 min = %d %s", status, body)
	}
	if status, _, _ := get(t, nil, "GET", rt.url("/ratings/0"), nil); status != 503 {
		t.Errorf("ratings after 15 min = %d", status)
	}
}

func TestRatingsDefaultsAndErrors(t *testing.T) {
	h, err := NewHandler(Config{Service: "ratings", Version: "v-delayed", Getenv: envOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rt := h.(*ratings); rt.delay != 7*time.Second || rt.period != time.Minute {
		t.Errorf("defaults: delay %v period %v", rt.delay, rt.period)
	}
	h, _ = NewHandler(Config{Service: "ratings", Getenv: envOf("SERVICE_VERSION", "v-unhealthy")})
	if rt := h.(*ratings); rt.fault != "v-unhealthy" || rt.period != 15*time.Minute {
		t.Errorf("SERVICE_VERSION=v-unhealthy: fault %q period %v", rt.fault, rt.period)
	}
	for version, want := range map[string]string{"v2": "MongoDB", "v9": `"v9"`} {
		if _, err := NewHandler(Config{Service: "ratings", Version: version, Getenv: envOf()}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("version %s: %v, want an error mentioning %s", version, err, want)
		}
	}
}
