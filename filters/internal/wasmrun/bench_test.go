package wasmrun

import (
	"context"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/runtime"
)

// BenchmarkFilterRequest is the per-request cost of each filter in nicrt's
// runtime: one complete stream (context create, request headers with 10
// headers, response headers, done/log/delete) through a chain holding only
// that filter, on a pool of one VM. "none" is the same stream through an
// empty chain. Besides ns/op it reports wasm-instr/op: the wasm
// instructions the filter executed for one such stream (from an
// instruction-counting load of the same module), the input of the NIC's
// timing model, which does not vary from machine to machine.
//
//	go test -run '^$' -bench FilterRequest -count 6 ./filters/internal/wasmrun
func BenchmarkFilterRequest(b *testing.B) {
	for _, bc := range []struct {
		name, filter, config string
		user                 string
	}{
		{name: "none"},
		{name: "passthrough", filter: "passthrough"},
		{name: "lb-round_robin", filter: "lb", config: "lb/reviews-round-robin.json"},
		{name: "lb-random", filter: "lb", config: `{"service": "reviews", "policy": "random", "clusters": ["reviews-v1", "reviews-v2", "reviews-v3"]}`},
		{name: "lb-weighted", filter: "lb", config: "lb/reviews-weighted-90-10.json"},
		{name: "lb-least_request", filter: "lb", config: "lb/reviews-least-request.json"},
		{name: "lb-ring_hash", filter: "lb", config: "lb/reviews-ring-hash.json", user: "jason"},
		{name: "route-jason-v2-v3/jason", filter: "route", config: "route/reviews-jason-v2-v3.json", user: "jason"},
		{name: "route-jason-v2-v3/other", filter: "route", config: "route/reviews-jason-v2-v3.json", user: "alice"},
		{name: "route-90-10", filter: "route", config: "route/reviews-90-10.json"},
		{name: "fault-abort/no-fault", filter: "fault", config: "fault/ratings-test-abort.json", user: "alice"},
		{name: "fault-abort/abort", filter: "fault", config: "fault/ratings-test-abort.json", user: "jason"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := bc.config
			if len(cfg) > 0 && cfg[0] != '{' {
				cfg = filtertest.ReadExample(b, cfg)
			}
			h, _ := NewHost(b)
			chain := runtime.NewChain()
			authority := "reviews:9080"
			if bc.filter == "fault" {
				authority = "ratings:9080"
			}
			var instr uint64
			if bc.filter != "" {
				chain = runtime.NewChain(Load(b, h, bc.filter, cfg, 1))
				instr = instructions(b, h, bc.filter, cfg, benchRequest(authority, bc.user))
			}
			ctx := context.Background()
			resp := runtime.Fields{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/json"}}
			req := benchRequest(authority, bc.user)
			b.ReportAllocs()
			for b.Loop() {
				req = append(req[:0], benchRequest(authority, bc.user)...)
				s := chain.NewStream(runtime.StreamInfo{})
				if s.RequestHeaders(ctx, &req, true) == runtime.Continue {
					s.ResponseHeaders(ctx, &resp, true)
				}
				s.Close()
			}
			b.ReportMetric(float64(instr), "wasm-instr/op")
		})
	}
}

// benchRequest is a productpage → reviews call with 10 headers (11 with end-user).
func benchRequest(authority, user string) runtime.Fields {
	f := runtime.Fields{
		{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/reviews/0"}, {Name: ":authority", Value: authority}, {Name: ":scheme", Value: "http"},
		{Name: "user-agent", Value: "fortio.org/fortio-1.75"}, {Name: "accept", Value: "*/*"}, {Name: "x-request-id", Value: "4b9e3c1a-6f3c-4f43-9d1e-2c5b7a1e0f00"},
		{Name: "x-b3-traceid", Value: "80f198ee56343ba864fe8b2a57d3eff7"}, {Name: "x-b3-spanid", Value: "e457b5a2e4d86bd1"}, {Name: "x-b3-sampled", Value: "1"},
	}
	if user != "" {
		f = append(f, runtime.Field{Name: "end-user", Value: user})
	}
	return f
}

// instructions runs one stream through an instruction-counting load of the
// filter and returns the wasm instructions it executed. The first stream
// of a fresh VM also pays one-time costs (e.g. growing Go's heap), so the
// count of the second stream is returned.
func instructions(b *testing.B, h *runtime.Host, filter, cfg string, req runtime.Fields) uint64 {
	p, err := h.Load(context.Background(), Build(b, filter), runtime.PluginConfig{
		Name: filter + "-counted", Configuration: []byte(cfg), PoolSize: 1, CountInstructions: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := runtime.NewChain(p)
	var n uint64
	for i := 0; i < 2; i++ {
		r := req.Clone()
		s := c.NewStream(runtime.StreamInfo{})
		resp := runtime.Fields{{Name: ":status", Value: "200"}}
		if s.RequestHeaders(context.Background(), &r, true) == runtime.Continue {
			s.ResponseHeaders(context.Background(), &resp, true)
		}
		s.Close()
		n = s.Instructions()
	}
	return n
}
