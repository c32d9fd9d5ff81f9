package wasmengine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/pcapio"
	"github.com/nicrt/nicrt/nicsim/replay"
	"github.com/nicrt/nicrt/runtime"
)

// replayWith replays the sample capture through the NIC with the test guest
// in its "bench" mode (it sets x-bench: 1 on every request).
func replayWith(t *testing.T, wasm []byte, cfg string) (*replay.Report, []pcapio.Record) {
	return replayWrapped(t, wasm, cfg, nil)
}

// replayWrapped is replayWith with each engine wrapped by wrap (nil: none).
func replayWrapped(t *testing.T, wasm []byte, cfg string, wrap func(engine.Engine) engine.Engine) (*replay.Report, []pcapio.Record) {
	t.Helper()
	recs, err := pcapio.ReadFile("../testdata/http.pcap")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := runtime.NewHost(ctx, runtime.HostConfig{Position: runtime.PositionNIC, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	var e *Engine
	opt := replay.Options{Model: model.Default(), ProbeFrames: -1, Engines: func(n int) ([]engine.Engine, error) {
		p, err := h.Load(ctx, wasm, runtime.PluginConfig{Name: "f", Configuration: []byte(cfg), PoolSize: n, CountInstructions: true})
		if err != nil {
			return nil, err
		}
		e = New(runtime.NewSlot(runtime.NewChain(p)))
		es := make([]engine.Engine, n)
		for i := range es {
			es[i] = e
			if wrap != nil {
				es[i] = wrap(e)
			}
		}
		return es, nil
	}}
	rep, out, err := replay.Run(recs, opt)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	return rep, out
}

func TestReplayRunsFilters(t *testing.T) {
	wasm := wasmbuild.Go(t, "../../runtime/testdata/guests/testguest")
	rep, out := replayWith(t, wasm, "bench=1")
	st := rep.Sim.Stats
	if st.Engine.Messages == 0 || st.Engine.Instructions == 0 {
		t.Fatalf("no filter work charged: %+v", st)
	}
	// Every request leaves the NIC with the filter's header. The deparser
	// re-segments a rewritten message, so reassemble each direction of
	// each connection (output order is departure order) before looking.
	streams := map[[2]frame.Endpoint][]byte{}
	p := frame.NewParser()
	for _, r := range out {
		var pk frame.Packet
		if p.Parse(r.Data, &pk) != nil {
			continue
		}
		k := [2]frame.Endpoint{pk.Src, pk.Dst}
		streams[k] = append(streams[k], pk.Payload...)
	}
	var requests, stamped int
	for _, b := range streams {
		for _, m := range []string{"GET ", "POST ", "HEAD "} {
			requests += bytes.Count(b, []byte(m+"/"))
		}
		stamped += bytes.Count(b, []byte("\r\nx-bench: 1\r\n"))
	}
	if requests != 5 || stamped != requests {
		t.Fatalf("%d of %d requests carry the filter's header; stats: rewritten %d, rewrite errors %d, messages %d, errors %v", stamped, requests, st.Rewritten, st.RewriteErrors, st.Engine.Messages, st.Errors)
	}
	// Deterministic: the same capture costs the same simulated time and
	// produces the same bytes on a fresh host.
	rep2, out2 := replayWith(t, wasm, "bench=1")
	if rep2.Sim.Stats.Engine.Instructions != st.Engine.Instructions || rep2.Sim.Stats.Engine.Service != st.Engine.Service {
		t.Fatalf("instructions %d vs %d", st.Engine.Instructions, rep2.Sim.Stats.Engine.Instructions)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	if err := pcapio.WriteFile(a, out); err != nil {
		t.Fatal(err)
	}
	pcapio.WriteFile(b, out2)
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Fatal("two replays with filters produced different captures")
	}
	t.Logf("%d messages, %d instructions, engine service %v", st.Engine.Messages, st.Engine.Instructions, st.Engine.Service)
}

func TestRejectedFilterFailsReplay(t *testing.T) {
	wasm := wasmbuild.Go(t, "../../runtime/testdata/guests/testguest")
	recs, err := pcapio.ReadFile("../testdata/http.pcap")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, _ := runtime.NewHost(ctx, runtime.HostConfig{Position: runtime.PositionNIC, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer h.Close(ctx)
	_, _, err = replay.Run(recs, replay.Options{Model: model.Default(), ProbeFrames: -1, Engines: func(n int) ([]engine.Engine, error) {
		_, err := h.Load(ctx, wasm, runtime.PluginConfig{Name: "f", Configuration: []byte("reject=1"), PoolSize: n})
		return nil, err
	}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("proxy_on_configure returned false")) {
		t.Fatalf("err = %v, want the rejected configuration", err)
	}
}

// TestMayPause: the test guest (which uses timers and continues streams)
// may pause; a filter that only reads and sets headers may not.
func TestMayPause(t *testing.T) {
	ctx := context.Background()
	h, err := runtime.NewHost(ctx, runtime.HostConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, c := range []struct {
		dir  string
		want bool
	}{
		{"../../runtime/testdata/guests/testguest", true},
		{"../live/testdata/routeguest", false},
	} {
		if got := MayPause(h.Inspect(ctx, wasmbuild.Go(t, c.dir))); got != c.want {
			t.Errorf("%s: MayPause %v, want %v", c.dir, got, c.want)
		}
	}
}

// recorder keeps what an engine reported for each message.
type recorder struct {
	engine.Engine
	got *[]recorded
}

type recorded struct {
	response, final bool
	res             engine.Result
}

func (r recorder) Process(m *engine.Message) (engine.Result, error) {
	res, err := r.Engine.Process(m)
	*r.got = append(*r.got, recorded{response: m.Head.Status != 0, final: m.Final, res: res})
	return res, err
}

// TestEndOfStreamWorkIsAfter: a stream's closing callbacks (log, done,
// delete) are reported as After on the response that ends it, apart from
// the instructions that decide the response; requests report none.
func TestEndOfStreamWorkIsAfter(t *testing.T) {
	wasm := wasmbuild.Go(t, "../../runtime/testdata/guests/testguest")
	var got []recorded
	rep, _ := replayWrapped(t, wasm, "bench=1", func(e engine.Engine) engine.Engine { return recorder{e, &got} })
	var responses int
	var total uint64
	for _, g := range got {
		total += g.res.Instructions + g.res.After
		switch {
		case !g.response && g.res.After != 0:
			t.Errorf("a request reported %d instructions after it", g.res.After)
		case g.response && g.final:
			responses++
			if g.res.After == 0 || g.res.Instructions == 0 {
				t.Errorf("a final response: %d instructions, %d after; want both", g.res.Instructions, g.res.After)
			}
		}
	}
	if responses == 0 {
		t.Fatal("no final response reached the engines")
	}
	if st := rep.Sim.Stats.Engine; st.Instructions != total {
		t.Errorf("the simulation charged %d instructions, the engine reported %d", st.Instructions, total)
	}
}
