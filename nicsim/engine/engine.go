// Package engine is the seam between the simulated NIC and the code that runs
// filters on it. The NIC frames each HTTP/1.1 message and hands it to one of
// its engines through the Engine interface; the engine runs the filter chain
// and reports the work done as a count of executed wasm instructions, which
// the timing model (nicsim/model) turns into simulated time. The NIC never
// looks at how the filters ran, only at that count and the verdict, so the
// same message costs the same simulated time on any machine.
//
// PassThrough is the engine with no filters. The Proxy-Wasm runtime plugs in
// by implementing Engine over its filter chain (plugins loaded with
// instruction counting, so a stream reports the instructions its callbacks
// executed), returning the message's new bytes in Result.Rewrite when the
// filters changed it; see docs/nicsim.md.
package engine

import (
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/httpframe"
)

// Message is one HTTP/1.1 request or response as the NIC framed it.
type Message struct {
	// Flow and Dir identify the connection and the direction of this
	// message within it; Exchange numbers the request/response pairs of the
	// connection from 0, so a request and its response share an Exchange (a
	// Proxy-Wasm HTTP context spans both).
	Flow     flow.Key
	Dir      flow.Dir
	Exchange int
	// ToHost is true for traffic from the wire toward the host (ingress),
	// false for traffic the host sends out (egress).
	ToHost bool
	// Final is true for a response that completes its exchange (not 1xx).
	Final bool
	// Head is the parsed start line and header fields; its slices alias Raw.
	Head *httpframe.Message
	// Raw is the message exactly as it crossed the wire (head and framed
	// body). It and Head are valid only during Process.
	Raw []byte
}

// Verdict is what the filters decided about a message.
type Verdict uint8

const (
	// Continue forwards the message.
	Continue Verdict = iota
	// Drop stops the message: its frames are not forwarded (a filter that
	// answers locally or denies).
	Drop
)

// Result is what an engine reports for one message.
type Result struct {
	// Instructions is the number of wasm instructions the filters executed
	// for this message; the model charges instructions × cycles per
	// instruction at the engine clock. It must be a deterministic function
	// of the message and the filters' state.
	Instructions uint64
	// After is the number of instructions the filters executed once the
	// message was decided: a stream's end-of-stream callbacks (log, done,
	// delete). Envoy runs them after the response has left, so the model
	// keeps the engine busy for them without delaying the message.
	After uint64
	// Verdict is the filters' decision.
	Verdict Verdict
	// Rewrite, when not nil, is the message as the filters changed it (a
	// whole HTTP/1.1 message, head and framed body, e.g. with a routing
	// header added). The NIC sends it instead of the original: re-segmented,
	// with the connection's later sequence and acknowledgment numbers
	// shifted by the change in length. The slice must stay valid after
	// Process returns.
	Rewrite []byte
	// Reply, with Verdict Drop, is a whole HTTP/1.1 response the filters
	// produced instead of forwarding the request (a local response: a
	// fault abort, a denial). A live NIC sends it back to the requester;
	// the offline replay counts the request as dropped.
	Reply []byte
}

// Engine runs the filters of one simulated NIC engine. The NIC calls Process
// for each message assigned to the engine, in simulated-time order, from one
// goroutine; an engine is never called concurrently.
type Engine interface {
	// Process runs m through the filters. An error means the filters
	// failed (a trap, a panic in the guest): the NIC drops the message and
	// counts the error, failing closed as a proxy would answer 5xx.
	Process(m *Message) (Result, error)
}

// FlowCloser is implemented by engines that keep per-connection state (the
// Proxy-Wasm root and stream contexts) and want to free it when the NIC
// forgets a connection.
type FlowCloser interface {
	FlowClosed(k flow.Key)
}

// Pauser is implemented by engines whose filters may pause a message: hold
// it until a timer or a callout resumes it (a fault delay, an HTTP call),
// during which Process blocks. The simulator does not need it (offline,
// host time does not matter); a live NIC does, so that one paused message
// does not stop every other: it runs Process on a goroutine of its own and,
// told of a pause, lets the simulation go on while the filter waits.
type Pauser interface {
	// OnPause sets the function called, on the goroutine running Process
	// and before it blocks, when a filter pauses message m (the one that
	// goroutine's Process call was given) after executing instructions
	// wasm instructions for it. m stays valid during the call only.
	OnPause(func(m *Message, instructions uint64))
}

// PassThrough is an engine without filters: every message continues at zero
// instructions, so only the model's fixed costs apply.
type PassThrough struct{}

// Process returns Continue with zero instructions.
func (PassThrough) Process(*Message) (Result, error) { return Result{}, nil }

// NewPassThrough returns n PassThrough engines, one per NIC engine.
func NewPassThrough(n int) []Engine {
	es := make([]Engine, n)
	for i := range es {
		es[i] = PassThrough{}
	}
	return es
}
