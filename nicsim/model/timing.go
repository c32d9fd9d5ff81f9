package model

import "math"

// Ethernet framing constants (IEEE 802.3 clause 3 and 4).
const (
	// FCSBytes is the frame check sequence a capture usually omits.
	FCSBytes = 4
	// MinFrameBytes is the minimum frame (including FCS); shorter frames are padded.
	MinFrameBytes = 64
	// PreambleSFDBytes is the 7-byte preamble plus the start frame delimiter.
	PreambleSFDBytes = 8
	// IFGBytes is the minimum inter-frame gap, 96 bit times.
	IFGBytes = 12
)

// WireBytes returns how many byte times a frame occupies on the wire, given
// its length including FCS: padding to 64 B, plus preamble+SFD and the
// inter-frame gap. A 64 B frame occupies 84 B.
func WireBytes(frameWithFCS int) int {
	if frameWithFCS < MinFrameBytes {
		frameWithFCS = MinFrameBytes
	}
	return frameWithFCS + PreambleSFDBytes + IFGBytes
}

// CapturedWireBytes is WireBytes for a frame as a pcap holds it (no FCS).
func CapturedWireBytes(captured int) int { return WireBytes(captured + FCSBytes) }

// Timing is a validated Config turned into picosecond quantities, computed
// once so the simulator's per-frame arithmetic is integer adds and multiplies.
type Timing struct {
	Config Config

	cycle       Time    // one NIC pipeline cycle
	engineCycle float64 // one engine cycle, in ps (may be fractional)
	bitLine     float64 // ps per bit on the wire
	bitPCIe     float64 // ps per bit over PCIe
	// MACPHY is the fixed PHY+MAC hard-logic latency per direction.
	MACPHY Time
	// DMALatency is the latency of one PCIe DMA transfer.
	DMALatency Time
}

// NewTiming validates c and precomputes its quantities.
func NewTiming(c Config) (*Timing, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Timing{
		Config:      c,
		cycle:       Time(math.Round(1e6 / c.ClockMHz)),
		engineCycle: 1e6 / c.Engine.ClockMHz,
		bitLine:     1e3 / c.LineRateGbps,
		bitPCIe:     1e3 / c.PCIe.Gbps,
		MACPHY:      FromNanoseconds(c.MACPHYLatencyNs),
		DMALatency:  FromNanoseconds(c.PCIe.DMALatencyNs),
	}, nil
}

// Cycle is one NIC pipeline clock period (rounded to a whole picosecond).
func (t *Timing) Cycle() Time { return t.cycle }

// Cycles converts NIC pipeline cycles to time.
func (t *Timing) Cycles(n int64) Time { return Time(n) * t.cycle }

// Beats is how many bus beats (cycles of stage occupancy) a frame of n bytes
// takes on the DatapathBytes-wide pipeline; at least one.
func (t *Timing) Beats(n int) int64 {
	w := t.Config.DatapathBytes
	if n <= 0 {
		return 1
	}
	return int64((n + w - 1) / w)
}

// Serialization is the wire time of a frame of frameWithFCS bytes at the
// line rate, preamble, SFD, padding and inter-frame gap included.
func (t *Timing) Serialization(frameWithFCS int) Time {
	return Time(math.Round(float64(WireBytes(frameWithFCS)*8) * t.bitLine))
}

// PCIeTransfer is how long n bytes occupy the PCIe link at its effective rate.
func (t *Timing) PCIeTransfer(n int) Time {
	return Time(math.Round(float64(n*8) * t.bitPCIe))
}

// EngineTime is the engine's cost for one message: the fixed per-message
// cycles plus instructions × cycles per instruction, at the engine clock.
func (t *Timing) EngineTime(instructions uint64) Time {
	e := &t.Config.Engine
	cycles := float64(e.PerMessageCycles) + float64(instructions)*e.CyclesPerInstruction
	return Time(math.Round(cycles * t.engineCycle))
}

// InstructionTime is the time an engine takes to execute instructions
// alone, without the per-message cycles: the filters' work on a stream
// after its message was decided.
func (t *Timing) InstructionTime(instructions uint64) Time {
	return Time(math.Round(float64(instructions) * t.Config.Engine.CyclesPerInstruction * t.engineCycle))
}

// HostScaled is the engine's cost in host-scaled mode: measured host time ×
// HostScale.
func (t *Timing) HostScaled(host Time) Time {
	return Time(math.Round(float64(host) * t.Config.Engine.HostScale))
}
