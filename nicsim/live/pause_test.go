package live

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPausedFilterHoldsOnlyItsMessage: a filter that pauses a request (the
// test guest waits for its tick, as a fault delay does) holds that request
// only: requests on other connections cross the NIC meanwhile, and the
// paused one arrives once resumed, with the header the filter added when
// it resumed it.
func TestPausedFilterHoldsOnlyItsMessage(t *testing.T) {
	es, _, _ := wasmEngines(t, 4, 2, filter{dir: testguest, config: "tick=300"})
	n := newNIC(t, Options{Engines: es, PausingFilters: true})
	ln := listen(t)
	serve(t, n.Listener(ln), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s resumed-by=%s", r.URL.Path, r.Header.Get("x-resumed-by"))
	}))
	url := "http://" + ln.Addr().String()
	var pausedDone atomic.Int64
	result := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		req, _ := http.NewRequest("GET", url+"/paused", nil)
		req.Header.Set("x-test", "tick-pause")
		resp, err := c.Do(req)
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pausedDone.Store(time.Now().UnixNano())
		result <- string(b)
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the filter
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 5; i++ {
		code, b := get(t, other, fmt.Sprintf("%s/other%d", url, i))
		if code != 200 || b != fmt.Sprintf("/other%d resumed-by=", i) {
			t.Fatalf("other request: %d %q", code, b)
		}
		if pausedDone.Load() != 0 {
			t.Fatalf("request %d waited for the paused one", i)
		}
	}
	if got := <-result; got != "/paused resumed-by=tick" {
		t.Fatalf("paused request: %q", got)
	}
	st := n.Stats()
	if st.Paused < 1 || st.Sim.Engine.Messages < 12 {
		t.Errorf("stats: %d paused, %d engine messages", st.Paused, st.Sim.Engine.Messages)
	}
	if st.MessageLateness.Max > 200*time.Millisecond {
		t.Errorf("the filter's wait counted as lateness: max %v", st.MessageLateness.Max)
	}
}

// TestPausedFilterEgress: an egress request whose filter pauses is routed
// once the filter resumes it, to the cluster the routing filter then names.
func TestPausedFilterEgress(t *testing.T) {
	v1, _ := backend(t, "v1")
	v2, _ := backend(t, "v2")
	es, _, _ := wasmEngines(t, 4, 1, filter{dir: testguest, config: "tick=50"}, filter{dir: routeguest, config: "reviews=reviews-v1,reviews-v2"})
	n := newNIC(t, Options{EgressEngines: es, PausingFilters: true, Clusters: map[string][]string{"reviews-v1": {v1}, "reviews-v2": {v2}}})
	c := egressClient(n, true)
	var got []string
	for i := 0; i < 4; i++ {
		hdr := []string{}
		if i%2 == 0 {
			hdr = []string{"x-test", "tick-pause"}
		}
		code, b := get(t, c, "http://reviews:9080/", hdr...)
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		got = append(got, strings.Fields(b)[0])
	}
	if s := strings.Join(got, " "); s != "v1 v2 v1 v2" {
		t.Errorf("upstreams %s, want v1 v2 v1 v2", s)
	}
	if st := n.Stats(); st.Paused != 2 {
		t.Errorf("%d messages paused, want 2", st.Paused)
	}
}
