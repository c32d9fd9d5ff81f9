package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/model"
)

// Stage names a place a frame spends time in, for the per-stage report.
type Stage uint8

// Stages in pipeline order. Each forwarded frame's transit is the sum of the
// stages it went through.
const (
	StageWireRX      Stage = iota // waiting for the RX port, then receiving the frame (store and forward)
	StageMACRX                    // PHY + MAC RX hard logic and its user-clock stage
	StageDMAFromHost              // egress: PCIe DMA of the frame from host memory
	StageParser
	StageFlowTable
	StageReassembly
	StageHold // held at the reassembly output until its message is framed and filtered
	StageDeparser
	StageMACTX     // MAC TX stage and PHY
	StageWireTX    // waiting for the TX port
	StageDMAToHost // ingress: PCIe DMA of the frame into host memory
	NumStages
)

var stageNames = [NumStages]string{
	"wire RX", "MAC/PHY RX", "DMA host→NIC", "parser", "flow table", "reassembly",
	"hold (message+engine)", "deparser", "MAC/PHY TX", "wire TX queue", "DMA NIC→host",
}

// String names the stage for reports.
func (s Stage) String() string { return stageNames[s] }

// StageStats accumulates the time frames spent in one stage.
type StageStats struct {
	// Frames is how many frames passed the stage.
	Frames int64
	// Total is the sum of their time in the stage; Wait the part of it spent
	// queueing for the stage (not in its own latency); Max the largest time.
	Total, Wait, Max model.Time
}

func (s *StageStats) add(total, wait model.Time) {
	s.Frames++
	s.Total += total
	s.Wait += wait
	s.Max = max(s.Max, total)
}

// extra adds time to a frame already counted (a stall after its service).
func (s *StageStats) extra(total, wait model.Time) {
	s.Total += total
	s.Wait += wait
}

// Mean is the mean time in the stage.
func (s *StageStats) Mean() model.Time {
	if s.Frames == 0 {
		return 0
	}
	return s.Total / model.Time(s.Frames)
}

// MeanWait is the mean queueing time in the stage.
func (s *StageStats) MeanWait() model.Time {
	if s.Frames == 0 {
		return 0
	}
	return s.Wait / model.Time(s.Frames)
}

// EngineStats describes the wasm engines' work.
type EngineStats struct {
	// Messages dispatched to an engine (run by the filters), and their
	// executed wasm instructions.
	Messages     int64
	Instructions uint64
	// Service is the summed engine time (dispatch + filters); Wait the summed
	// time messages queued for an engine; MaxWait the longest.
	Service, Wait, MaxWait model.Time
	// MaxDepth is the most messages seen waiting in one engine's queue.
	MaxDepth int
	// QueueFull counts messages dropped because every queue was full.
	QueueFull int64
	// Blocked counts messages that stalled the reassembly stage
	// (backpressure) and BlockedTime the total stall.
	Blocked     int64
	BlockedTime model.Time
	// FilterDrops and Errors count messages stopped by the filters or by an
	// engine failure.
	FilterDrops, Errors int64
	// PerEngine counts messages per engine; Busy sums each engine's service.
	PerEngine []int64
	Busy      []model.Time
}

func (e *EngineStats) noteDepth(n int) { e.MaxDepth = max(e.MaxDepth, n) }

// Stats describes a run.
type Stats struct {
	Frames    int
	Forwarded int
	// Dropped counts frames by reason (index Forwarded is unused).
	Dropped [numDrops]int
	Stages  [NumStages]StageStats
	Engine  EngineStats
	// Flows is how many flows the table tracked; NonTCP how many frames
	// were not IPv4/TCP and crossed without reassembly.
	Flows  int
	NonTCP int
	// Tunnels counts connection directions that stopped being HTTP (CONNECT,
	// Upgrade); their bytes cross without the engines.
	Tunnels int
	// StreamErrors counts directions that could not be reassembled or
	// framed (their bytes cross without the engines); FlowErrors frames of
	// flows the full table refused. Errors keeps the first few messages.
	StreamErrors, FlowErrors int
	Errors                   []string
	// Flushed counts frames still held when the input ended (an incomplete
	// message), released as they were.
	Flushed int
	// Rewritten counts messages the filters rewrote and the deparser sent
	// re-segmented; RewriteErrors those it could not (sent as they were).
	Rewritten, RewriteErrors int
	// FirstArrival and LastDepart bound the simulated run.
	FirstArrival, LastDepart model.Time
	// Transit holds forwarded frames' transit times (departure − arrival)
	// per direction, sorted, when Options.KeepTransit; TransitSum and
	// TransitN are kept always.
	Transit    [2][]model.Time // [egress, ingress]
	TransitSum [2]model.Time
	TransitN   [2]int
	// Busy is each server's total busy time ("wire RX port", "ingress
	// parser", "engine 0", ...), for utilization.
	Busy map[string]model.Time
	// Wall is the host time the simulation took.
	Wall time.Duration

	keepTransit bool
}

const maxErrors = 10

func (st *Stats) init(engines int, keep bool) {
	st.Engine.PerEngine = make([]int64, engines)
	st.Engine.Busy = make([]model.Time, engines)
	st.keepTransit = keep
}

func (st *Stats) noteErr(msg string) {
	if len(st.Errors) < maxErrors {
		st.Errors = append(st.Errors, msg)
	}
}

func (st *Stats) noteStreamError(k flow.Key, err error) {
	st.StreamErrors++
	st.noteErr(fmt.Sprintf("flow %v: %v (its bytes bypass the engines)", k, err))
}

func (st *Stats) noteFlowError(err error) {
	st.FlowErrors++
	st.noteErr(err.Error() + " (frame bypasses the engines)")
}

func (st *Stats) noteEngineError(k flow.Key, err error) {
	st.noteErr(fmt.Sprintf("flow %v: engine: %v (message dropped)", k, err))
}

func (st *Stats) noteTransit(toHost bool, d model.Time) {
	i := b2i(toHost)
	st.TransitSum[i] += d
	st.TransitN[i]++
	if st.keepTransit {
		st.Transit[i] = append(st.Transit[i], d)
	}
}

func (st *Stats) finish(s *Sim) {
	if s.batch {
		st.Frames = len(s.in)
		if len(s.in) > 0 {
			st.FirstArrival = s.in[0].Time
		}
	}
	for i := range st.Transit {
		slices.Sort(st.Transit[i])
	}
	st.Busy = map[string]model.Time{}
	eg, ig := &s.pipes[0], &s.pipes[1]
	for _, x := range []struct {
		n string
		v model.Time
	}{
		{"wire RX port", ig.port.busy}, {"wire TX port", eg.port.busy},
		{"PCIe NIC→host", ig.pcie.busy}, {"PCIe host→NIC", eg.pcie.busy},
		{"ingress parser", ig.parser.busy}, {"egress parser", eg.parser.busy},
		{"ingress flow table", ig.flowT.busy}, {"egress flow table", eg.flowT.busy},
		{"ingress reassembly", ig.reasm.busy}, {"egress reassembly", eg.reasm.busy},
		{"ingress deparser", ig.depa.busy}, {"egress deparser", eg.depa.busy},
	} {
		st.Busy[x.n] = x.v
	}
	for i, b := range st.Engine.Busy {
		st.Busy[fmt.Sprintf("engine %d", i)] = b
	}
}

// Percentile returns the p-th percentile (0..100, nearest rank) of the
// direction's transit times; it needs Options.KeepTransit.
func (st *Stats) Percentile(toHost bool, p float64) model.Time {
	v := st.Transit[b2i(toHost)]
	if len(v) == 0 {
		return 0
	}
	k := int(p/100*float64(len(v))+0.5) - 1
	k = min(max(k, 0), len(v)-1)
	return v[k]
}

// MeanTransit is the mean transit of a direction's forwarded frames.
func (st *Stats) MeanTransit(toHost bool) model.Time {
	i := b2i(toHost)
	if st.TransitN[i] == 0 {
		return 0
	}
	return st.TransitSum[i] / model.Time(st.TransitN[i])
}

// DroppedTotal is the number of frames not forwarded.
func (st *Stats) DroppedTotal() int {
	n := 0
	for _, d := range st.Dropped {
		n += d
	}
	return n
}
