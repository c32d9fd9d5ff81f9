package live

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/replay"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// counters are the NIC's live accounting, under n.mu.
type counters struct {
	conns               [3]int64 // by connKind
	framesIn, bytesIn   [2]int64 // [egress, ingress]
	framesOut, bytesOut [2]int64
	messages            [2]int64
	modeled             model.Time // modeled transit the NIC added (see Stats.Modeled)
	underruns           int64
	frameLate, msgLate  hist
	kindLate            [4]hist  // msgLate by message kind (msgKind); their counts count the kinds
	kindUnderruns       [4]int64 // underruns by message kind
	dropped             [8]int64 // by sim.Drop
	localReplies        int64    // requests the filters answered locally
	filterErrors        int64    // messages the filters failed on (500, fail closed)
	resets              int64    // streams the filters reset
	aborted             int64    // connections the NIC reset
	nicReplies          int64    // responses the NIC produced itself (503s)
	upstreamErrors      int64
	unknownCluster      int64
	paused              int64 // messages held while their filter paused
	connectWait         hist
	oversleep           hist
	errors              []string
}

const maxErrors = 10

func (n *NIC) noteError(err error) {
	if len(n.ctr.errors) < maxErrors {
		n.ctr.errors = append(n.ctr.errors, err.Error())
	}
}

func (n *NIC) noteUpstreamError(err error) {
	n.mu.Lock()
	n.ctr.upstreamErrors++
	n.noteError(err)
	n.mu.Unlock()
}

func (n *NIC) noteConnectWait(d time.Duration) {
	n.mu.Lock()
	n.ctr.connectWait.add(d)
	n.mu.Unlock()
}

// Latency summarizes a distribution of durations.
type Latency struct {
	// N is how many values; Mean their mean; P50, P90 and P99 percentiles
	// (to the histogram's 6.25 % bucket width); Max the largest.
	N                        int64
	Mean, P50, P90, P99, Max time.Duration
}

func (h *hist) latency() Latency {
	return Latency{N: h.n, Mean: h.mean(), P50: h.quantile(.5), P90: h.quantile(.9), P99: h.quantile(.99), Max: h.max}
}

// Stats is a snapshot of a live NIC: its traffic, how punctually it
// released what crossed it, and the simulation's own per-stage accounting.
type Stats struct {
	// Model names the timing model.
	Model string
	// Uptime is how long the NIC has run.
	Uptime time.Duration
	// Connections by where the NIC sat (ingress, egress, relay); Open is
	// how many are open now.
	Connections map[string]int64
	Open        int64
	// Frames and bytes offered to and released by the NIC, by direction
	// (index 0 egress: host → wire; 1 ingress: wire → host). BytesOut
	// counts the bytes as the filters left them.
	FramesIn, FramesOut [2]int64
	BytesIn, BytesOut   [2]int64
	// Messages is how many HTTP messages the NIC released, by direction;
	// Requests how many of them were requests.
	Messages, Requests [2]int64
	// Modeled is the time the modelled card itself added to what crossed
	// it: for every released message, its last frame's modeled transit
	// (departure − arrival, queueing included), plus the modeled transit of
	// the SYN and SYN-ACK of every connection, which delays its first
	// bytes. Each is time the exchange waited on the card, so in a chain of
	// calls made one after another (Bookinfo's) it adds up along the
	// request path. It is the model's figure, free of host overhead.
	Modeled time.Duration
	// Tolerance is the underrun line; Underruns counts released messages
	// whose last frame left more than Tolerance after its modeled
	// departure (the host could not keep up with the model).
	Tolerance time.Duration
	Underruns int64
	// MessageLateness is, per released message, how late its latest frame
	// left compared to the model (0 when on time); FrameLateness the same
	// per frame. With a zero-cost model they are the host's own overhead.
	MessageLateness, FrameLateness Latency
	// ByKind splits the messages' lateness and underruns by kind and
	// direction (MessageKinds names them: requests in, responses out,
	// requests out, responses in), to show where the host falls behind.
	ByKind [4]KindLateness
	// Oversleep is how much later than asked the clock goroutine woke
	// (the OS's timer precision, which the spin before each deadline hides);
	// Margin is how early it now asks to be woken.
	Oversleep Latency
	Margin    time.Duration
	// Dropped counts frames the simulated NIC did not forward, by reason.
	Dropped map[string]int64
	// LocalReplies, FilterErrors and Resets count what the filters did to
	// requests: answered them, failed on them (the NIC answered 500), or
	// reset the stream. NICReplies counts responses the NIC produced
	// itself (no such cluster, upstream unreachable); Aborted connections
	// the NIC reset.
	LocalReplies, FilterErrors, Resets, NICReplies, Aborted int64
	// UpstreamErrors counts failed connects to upstreams; UnknownClusters
	// requests routed to a cluster that is not configured.
	UpstreamErrors, UnknownClusters int64
	// Paused counts messages a filter paused (a fault delay, a callout):
	// held while it waited, and not counted as late for that wait.
	Paused int64
	// ConnectWait is how long egress requests that had left the NIC waited
	// for their upstream connect to complete.
	ConnectWait Latency
	// Sim is the simulation's accounting: per-stage time and queueing,
	// engines, drops (transit percentiles are kept only offline).
	Sim sim.Stats
	// Errors are the first few errors (filters, upstreams).
	Errors []string
}

// KindLateness is the lateness of one kind of message (see MessageKinds).
type KindLateness struct {
	Lateness  Latency
	Underruns int64
}

// MessageKinds names Stats.ByKind's entries: a message is a request or a
// response, and crosses the NIC toward the host (ingress) or toward the
// wire (egress). An ingress connection's requests come in and its
// responses go out; an egress connection's the other way round.
var MessageKinds = [4]string{"requests in (wire→host)", "responses out (host→wire)", "requests out (host→wire)", "responses in (wire→host)"}

// kindLabels are MessageKinds as Prometheus label values.
var kindLabels = [4]string{"requests_in", "responses_out", "requests_out", "responses_in"}

// msgKind indexes MessageKinds.
func msgKind(request, toHost bool) int {
	switch {
	case request && toHost:
		return 0
	case !request && !toHost:
		return 1
	case request:
		return 2
	}
	return 3
}

// UnderrunRate is underruns per released message.
func (s *Stats) UnderrunRate() float64 {
	m := s.Messages[0] + s.Messages[1]
	if m == 0 {
		return 0
	}
	return float64(s.Underruns) / float64(m)
}

// Stats returns a snapshot of the NIC's counters.
func (n *NIC) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := &n.ctr
	s := Stats{
		Model: n.opt.Model.Name, Uptime: time.Since(n.clk.start), Open: n.open.Load(),
		Connections: map[string]int64{}, Dropped: map[string]int64{},
		FramesIn: c.framesIn, FramesOut: c.framesOut, BytesIn: c.bytesIn, BytesOut: c.bytesOut,
		Messages: c.messages, Requests: [2]int64{c.kindLate[2].n, c.kindLate[0].n}, Modeled: dur(c.modeled), Tolerance: n.opt.Tolerance, Underruns: c.underruns,
		MessageLateness: c.msgLate.latency(), FrameLateness: c.frameLate.latency(),
		Oversleep: c.oversleep.latency(), Margin: n.mrgNow(),
		LocalReplies: c.localReplies, FilterErrors: c.filterErrors, Resets: c.resets,
		NICReplies: c.nicReplies, Aborted: c.aborted,
		UpstreamErrors: c.upstreamErrors, UnknownClusters: c.unknownCluster, Paused: c.paused,
		ConnectWait: c.connectWait.latency(), Errors: append([]string(nil), c.errors...),
	}
	for k, v := range c.conns {
		s.Connections[kindNames[k]] = v
	}
	for k := range c.kindLate {
		s.ByKind[k] = KindLateness{Lateness: c.kindLate[k].latency(), Underruns: c.kindUnderruns[k]}
	}
	for d, v := range c.dropped {
		if v > 0 && d > 0 {
			s.Dropped[sim.Drop(d).String()] = v
		}
	}
	if n.finished != nil {
		s.Sim = n.finished.Stats
	} else {
		s.Sim = n.sim.Stats()
	}
	return s
}

// mrgNow reads the clock goroutine's current wake-up margin.
func (n *NIC) mrgNow() time.Duration { return time.Duration(n.marginNs.Load()) }

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e3) }

func usT(t model.Time) string { return fmt.Sprintf("%.3f", t.Microseconds()) }

// WriteSummary writes the end-of-run report: traffic, punctuality
// (lateness, underruns), what the filters did, and the simulated NIC's
// per-stage time.
func (s *Stats) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "nicsim live summary: model %s, up %v\n", s.Model, s.Uptime.Round(time.Millisecond))
	fmt.Fprintf(&b, "connections: ingress %d, egress %d, relay %d (open %d)\n",
		s.Connections["ingress"], s.Connections["egress"], s.Connections["relay"], s.Open)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "direction\tframes in\tframes out\tbytes in\tbytes out\tHTTP messages\t")
	for _, d := range []struct {
		name string
		i    int
	}{{"ingress (wire→host)", 1}, {"egress (host→wire)", 0}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", d.name, s.FramesIn[d.i], s.FramesOut[d.i], s.BytesIn[d.i], s.BytesOut[d.i], s.Messages[d.i])
	}
	tw.Flush()
	fmt.Fprintf(&b, "\npunctuality: a frame may leave no earlier than its modeled departure; lateness is how much later it left\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "lateness µs\tcount\tmean\tp50\tp90\tp99\tmax\t")
	row := func(name string, l Latency, extra string) {
		if extra != "" {
			extra = "  " + extra
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, l.N, us(l.Mean), us(l.P50), us(l.P90), us(l.P99), us(l.Max), extra)
	}
	row("per message", s.MessageLateness, "")
	for k, kl := range s.ByKind {
		if l := kl.Lateness; l.N > 0 {
			row(MessageKinds[k], l, fmt.Sprintf("%d underruns (%.1f%%)", kl.Underruns, 100*float64(kl.Underruns)/float64(l.N)))
		}
	}
	row("per frame", s.FrameLateness, "")
	row("clock oversleep", s.Oversleep, "")
	tw.Flush()
	fmt.Fprintf(&b, "underruns: %d of %d messages (%.3f%%) left more than %v late; clock wakes %v early, then spins\n",
		s.Underruns, s.Messages[0]+s.Messages[1], 100*s.UnderrunRate(), s.Tolerance, s.Margin.Round(time.Microsecond))
	if m := s.Messages[0] + s.Messages[1]; m > 0 {
		fmt.Fprintf(&b, "modeled: the card added %s µs in all, %s µs per message (last frames' transit, handshakes included); %d requests in, %d out\n",
			us(s.Modeled), us(s.Modeled/time.Duration(m)), s.Requests[1], s.Requests[0])
	}
	fmt.Fprintf(&b, "filters: %d local replies, %d failures (answered 500), %d resets, %d paused; NIC: %d replies of its own, %d connections reset\n",
		s.LocalReplies, s.FilterErrors, s.Resets, s.Paused, s.NICReplies, s.Aborted)
	if s.UpstreamErrors > 0 || s.UnknownClusters > 0 || s.ConnectWait.N > 0 {
		fmt.Fprintf(&b, "egress: %d upstream connect failures, %d requests to unknown clusters; connect wait after release: p50 %s µs, max %s µs over %d connects\n",
			s.UpstreamErrors, s.UnknownClusters, us(s.ConnectWait.P50), us(s.ConnectWait.Max), s.ConnectWait.N)
	}
	if len(s.Dropped) > 0 {
		fmt.Fprintf(&b, "dropped frames: %v\n", s.Dropped)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	st := &s.Sim
	b.WriteString("\nsimulated per-stage time in µs (mean over the frames that passed the stage; queue = part spent waiting):\n")
	replay.WriteStages(&b, st)
	if e := &st.Engine; e.Messages > 0 {
		fmt.Fprintf(&b, "engines: %d messages, %d wasm instructions; mean service %s µs, mean queue wait %s µs (max %s), max queue depth %d, per engine %v\n",
			e.Messages, e.Instructions, usT(e.Service/model.Time(e.Messages)), usT(e.Wait/model.Time(e.Messages)), usT(e.MaxWait), e.MaxDepth, e.PerEngine)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
