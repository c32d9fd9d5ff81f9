package bookinfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

// ratings serves star ratings, like the original Node.js service with its
// in-memory store. SERVICE_VERSION selects a fault: v-faulty answers half the
// GETs with 503, v-delayed stalls half of them 7 s, v-unavailable flips
// between serving and 503 every 60 s, and v-unhealthy flips every 15 min and
// reports itself unhealthy while down. (The original's database-backed v2
// needs MongoDB or MySQL and is not implemented.)
type ratings struct {
	fault  string
	rand   func() float64
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	delay  time.Duration
	period time.Duration
	start  time.Time

	mu     sync.RWMutex
	stored map[string][]byte // id key → complete response body of a POSTed rating
}

// maxStoredRatings bounds the in-memory store (the original grows without
// limit); POSTs for new ids past it are refused with 507.
const maxStoredRatings = 10000

// maxRatingsBody bounds a POSTed body.
const maxRatingsBody = 64 << 10

const (
	ratingsHealth      = `{"status":"Ratings is healthy"}`
	ratingsUnhealthy   = `{"status":"Ratings is not healthy"}`
	ratingsBadID       = `{"error":"please provide numeric product ID"}`
	ratingsBadJSON     = `{"error":"please provide valid ratings JSON"}`
	ratingsUnavailable = `{"error":"Service unavailable"}`
	ratingsDefault     = `,"ratings":{"Reviewer1":5,"Reviewer2":4}}`
)

// RatingsVersions lists the SERVICE_VERSION values ratings accepts.
var RatingsVersions = []string{"v1", "v-faulty", "v-delayed", "v-unavailable", "v-unhealthy"}

func newRatings(cfg Config, env envReader) (*ratings, error) {
	version := cfg.Version
	if version == "" {
		version = env.str("SERVICE_VERSION", "v1")
	}
	known := false
	for _, v := range RatingsVersions {
		known = known || v == version
	}
	if !known {
		if version == "v2" {
			return nil, errors.New("bookinfo: ratings v2 reads a MongoDB or MySQL database, which nicrt does not implement; use v1")
		}
		return nil, fmt.Errorf("bookinfo: ratings SERVICE_VERSION %q; want one of %s", version, strings.Join(RatingsVersions, ", "))
	}
	rt := &ratings{
		fault:  version,
		rand:   randFloat(cfg),
		now:    cfg.Now,
		sleep:  cfg.Sleep,
		delay:  cfg.FaultDelay,
		period: cfg.FlipPeriod,
		stored: map[string][]byte{},
	}
	if rt.now == nil {
		rt.now = time.Now
	}
	if rt.sleep == nil {
		rt.sleep = sleepCtx
	}
	if rt.delay == 0 {
		rt.delay = 7 * time.Second
	}
	if rt.period == 0 {
		rt.period = time.Minute
		if version == "v-unhealthy" {
			rt.period = 15 * time.Minute
		}
	}
	rt.start = rt.now()
	return rt, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// down reports whether a flipping version is in its unavailable phase: the
// original starts available and toggles once per period.
func (rt *ratings) down() bool {
	if rt.fault != "v-unavailable" && rt.fault != "v-unhealthy" {
		return false
	}
	return (rt.now().Sub(rt.start)/rt.period)%2 == 1
}

// ServeHTTP answers /ratings/<id> (GET and POST) and /health.
func (rt *ratings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/health" && r.Method == http.MethodGet:
		if rt.fault == "v-unhealthy" && rt.down() {
			writeBody(w, http.StatusInternalServerError, jsonType, ratingsUnhealthy)
			return
		}
		writeBody(w, http.StatusOK, jsonType, ratingsHealth)
	case strings.HasPrefix(path, "/ratings/") && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		// The original parses the last '/'-piece of the raw URL, query and all.
		raw := r.RequestURI
		if !strings.HasPrefix(raw, "/") {
			raw = r.URL.RequestURI() // absolute-form request line
		}
		id, ok := jsParseInt(raw[strings.LastIndexByte(raw, '/')+1:])
		if !ok {
			writeBody(w, http.StatusBadRequest, jsonType, ratingsBadID)
			return
		}
		key := jsNumberKey(id)
		if r.Method == http.MethodPost {
			rt.post(w, r, key)
			return
		}
		rt.get(w, r, key)
	default:
		writeBody(w, http.StatusNotFound, textType, "Not found: "+r.Method+" "+path+"\n")
	}
}

func (rt *ratings) get(w http.ResponseWriter, r *http.Request, key string) {
	switch rt.fault {
	case "v-faulty":
		if rt.rand() <= 0.5 {
			writeBody(w, http.StatusServiceUnavailable, jsonType, ratingsUnavailable)
			return
		}
	case "v-delayed":
		if rt.rand() <= 0.5 {
			if rt.sleep(r.Context(), rt.delay) != nil {
				return // the caller gave up
			}
		}
	case "v-unavailable", "v-unhealthy":
		if rt.down() {
			writeBody(w, http.StatusServiceUnavailable, jsonType, ratingsUnavailable)
			return
		}
	}
	rt.mu.RLock()
	stored := rt.stored[key]
	rt.mu.RUnlock()
	if stored != nil {
		writeBytes(w, http.StatusOK, jsonType, stored)
		return
	}
	writeJoined(w, http.StatusOK, jsonType, `{"id":`, key, ratingsDefault)
}

// post stores a product's ratings, any JSON value, and answers with what a
// GET now returns. The value is re-printed as JSON.stringify would.
func (rt *ratings) post(w http.ResponseWriter, r *http.Request, key string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRatingsBody+1))
	if err != nil {
		writeBody(w, http.StatusBadRequest, jsonType, ratingsBadJSON)
		return
	}
	if len(body) > maxRatingsBody {
		writeBody(w, http.StatusRequestEntityTooLarge, jsonType, fmt.Sprintf(`{"error":"ratings JSON larger than %d bytes"}`, maxRatingsBody))
		return
	}
	var tr jsontree.Tree
	if tr.Parse(string(body)) != nil {
		writeBody(w, http.StatusBadRequest, jsonType, ratingsBadJSON)
		return
	}
	out := append([]byte(`{"id":`), key...)
	out = append(out, `,"ratings":`...)
	out = jsontree.AppendJS(out, tr.Root())
	out = append(out, '}')
	rt.mu.Lock()
	_, had := rt.stored[key]
	full := !had && len(rt.stored) >= maxStoredRatings
	if !full {
		rt.stored[key] = out
	}
	rt.mu.Unlock()
	if full {
		writeBody(w, http.StatusInsufficientStorage, jsonType, fmt.Sprintf(`{"error":"ratings store full (%d products)"}`, maxStoredRatings))
		return
	}
	writeBytes(w, http.StatusOK, jsonType, out)
}
