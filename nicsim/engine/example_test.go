package engine_test

import (
	"bytes"
	"fmt"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/internal/synth"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// denyAdmin is a stand-in for a filter chain: it refuses requests for
// /admin and reports a fixed instruction count per message. A real engine
// runs Proxy-Wasm callbacks and returns the instructions they executed.
type denyAdmin struct{}

func (denyAdmin) Process(m *engine.Message) (engine.Result, error) {
	if m.Head.Kind == httpframe.Request && bytes.HasPrefix(m.Head.Target, []byte("/admin")) {
		return engine.Result{Instructions: 800, Verdict: engine.Drop}, nil
	}
	return engine.Result{Instructions: 1200}, nil
}

// Example shows the seam: the simulator frames each HTTP message and asks
// an Engine what the filters did and how many instructions it took.
func Example() {
	conn := func(n byte, path string) []synth.Frame {
		fs, _ := synth.Conn{
			Client: synth.Endpoint(n, 40000), Server: synth.Endpoint(1, 80), ClientISN: 1, ServerISN: 2,
			MSS: 1460, RTT: 10 * model.Microsecond,
			Exchanges: []synth.Exchange{{Request: synth.Request(path), Response: synth.Response(64)}},
		}.Build()
		return fs
	}
	frames := synth.Merge(conn(2, "/index.html"), conn(3, "/admin/users"))
	p := frame.NewParser()
	in := make([]sim.Input, len(frames))
	for i, f := range frames {
		in[i] = sim.Input{Time: f.Time, Len: len(f.Data), ToHost: f.FromClient}
		if err := p.Parse(f.Data, &in[i].Packet); err != nil {
			panic(err)
		}
	}
	tm, _ := model.NewTiming(model.Default())
	engines := []engine.Engine{denyAdmin{}, denyAdmin{}, denyAdmin{}, denyAdmin{}}
	res, err := sim.Run(in, sim.Options{Timing: tm, Engines: engines})
	if err != nil {
		panic(err)
	}
	// The capture is replayed open loop: the server's response to the
	// dropped request is in it, so four messages reach the engines.
	e := res.Stats.Engine
	fmt.Printf("messages %d, instructions %d, filter drops %d, frames dropped %d\n",
		e.Messages, e.Instructions, e.FilterDrops, res.Stats.Dropped[sim.FilterDrop])
	// Output: messages 4, instructions 4400, filter drops 1, frames dropped 1
}
