// Package replay is the NIC's offline mode: it replays a capture through the
// simulated pipeline (nicsim/sim) in simulated time, produces the capture as
// it would leave the NIC (the same frames, with departure timestamps), and
// reports where the time went and at which offered load the NIC saturates.
package replay

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/pcapio"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// Options configure a replay.
type Options struct {
	// Model is the timing model.
	Model model.Config
	// Engines returns the NIC's n engines; nil means pass-through (no
	// filters). It is called once; the saturation probe reuses them.
	Engines func(n int) ([]engine.Engine, error)
	// Host is the address of the host behind the NIC: frames to it are
	// ingress, frames from it egress. Invalid (zero) means choose
	// automatically: the destination of the first SYN, else of the first
	// TCP segment with data.
	Host netip.Addr
	// ProbeFrames is how many frames each saturation probe simulates
	// (default 20000); negative skips the probe.
	ProbeFrames int
}

// Report is the outcome of a replay. Everything in it except HostTime is
// a deterministic function of the input and options.
type Report struct {
	Model model.Config
	// Host and HostReason say which side of the capture the NIC fronts.
	Host       netip.Addr
	HostReason string
	// Records is the number of input records; Sorted how many were out of
	// time order and sorted; Malformed lists the first parse errors.
	Records   int
	Sorted    int
	Malformed []string
	// Sim is the simulation's result on the capture's own timing.
	Sim *sim.Result
	// Inputs are the frames as the simulation saw them (times relative to
	// the first record).
	Inputs []sim.Input
	// FirstExchange is the client-visible time the NIC adds to each
	// connection's first exchange (see ExchangeCost).
	FirstExchange []model.Time
	// Saturation is the probe's finding, nil if skipped.
	Saturation *Saturation
	// HostTime is how long the host took (not deterministic).
	HostTime HostTime
}

// HostTime is the host's time spent per phase, for the simulation speed.
type HostTime struct {
	Parse, Simulate, Probe time.Duration
	// ProbeFrames is how many frames the saturation probe simulated.
	ProbeFrames int
}

// maxMalformed bounds how many parse errors the report lists.
const maxMalformed = 10

// Inputs parses capture records into simulator inputs. Times become
// picoseconds after the first record (t0, returned); records out of time
// order are stably sorted (the count is returned). Frames that fail to
// parse are kept, marked with their error (the NIC's parser drops them).
func Inputs(recs []pcapio.Record, host netip.Addr) (in []sim.Input, order []int, t0 int64, sorted int, err error) {
	order = make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Time < recs[i-1].Time {
			sorted++
		}
	}
	if sorted > 0 {
		slices.SortStableFunc(order, func(a, b int) int {
			return cmpInt64(recs[a].Time, recs[b].Time)
		})
	}
	if len(recs) > 0 {
		t0 = recs[order[0]].Time
	}
	p := frame.NewParser()
	in = make([]sim.Input, len(recs))
	h4 := host.As4()
	for k, ri := range order {
		r := &recs[ri]
		x := &in[k]
		rel := r.Time - t0
		if rel > int64(model.Second/model.Nanosecond)*86400*30 {
			return nil, nil, 0, 0, fmt.Errorf("record %d: timestamp %v after the first record: captures longer than 30 days are not replayed", ri+1, time.Duration(rel))
		}
		x.Time = model.Time(rel) * model.Nanosecond
		x.Len = len(r.Data)
		if r.OrigLen > len(r.Data) {
			x.Err = fmt.Errorf("record %d: truncated by the capture's snap length (%d of %d bytes)", ri+1, len(r.Data), r.OrigLen)
		} else if perr := p.Parse(r.Data, &x.Packet); perr != nil {
			x.Err = fmt.Errorf("record %d: %w", ri+1, perr)
		}
		// Frames from the host are egress; everything else comes off the wire.
		x.ToHost = !(x.Err == nil && x.Packet.Kind == frame.KindTCP && x.Packet.Src.IP == h4)
	}
	// Frames the parser does not interpret (ARP, IPv6...) are the host's
	// if they come from a MAC address the host's TCP frames use.
	hostMACs := map[[6]byte]bool{}
	for k := range in {
		if !in[k].ToHost {
			hostMACs[in[k].Packet.Src.MAC] = true
		}
	}
	for k, ri := range order {
		x := &in[k]
		if x.ToHost && x.Packet.Kind != frame.KindTCP && len(recs[ri].Data) >= 12 {
			x.ToHost = !hostMACs[[6]byte(recs[ri].Data[6:12])]
		}
	}
	return in, order, t0, sorted, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ChooseHost picks the host behind the NIC: the destination of the first
// SYN (the server of the first connection), else of the first TCP segment
// carrying data. It returns why, for the report.
func ChooseHost(recs []pcapio.Record) (netip.Addr, string, error) {
	p := frame.NewParser()
	var pk frame.Packet
	var firstData netip.Addr
	for _, r := range recs {
		if p.Parse(r.Data, &pk) != nil || pk.Kind != frame.KindTCP {
			continue
		}
		if pk.Flags&(frame.SYN|frame.ACK) == frame.SYN {
			return netip.AddrFrom4(pk.Dst.IP), "destination of the first SYN", nil
		}
		if !firstData.IsValid() && len(pk.Payload) > 0 {
			firstData = netip.AddrFrom4(pk.Dst.IP)
		}
	}
	if firstData.IsValid() {
		return firstData, "destination of the first TCP data (no SYN in the capture)", nil
	}
	return netip.Addr{}, "", errors.New("no IPv4/TCP traffic in the capture: nothing for the NIC to do (give --host to replay anyway)")
}

// Run replays recs and returns the report and the output capture: the
// forwarded frames in departure order with their simulated departure times.
func Run(recs []pcapio.Record, opt Options) (*Report, []pcapio.Record, error) {
	tm, err := model.NewTiming(opt.Model)
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{Model: opt.Model, Records: len(recs), Host: opt.Host, HostReason: "given"}
	if !rep.Host.IsValid() {
		if rep.Host, rep.HostReason, err = ChooseHost(recs); err != nil {
			return nil, nil, err
		}
	}
	if !rep.Host.Is4() {
		return nil, nil, fmt.Errorf("host %v: only IPv4 hosts are modeled", rep.Host)
	}
	t0 := time.Now()
	in, order, base, sorted, err := Inputs(recs, rep.Host)
	if err != nil {
		return nil, nil, err
	}
	rep.Inputs, rep.Sorted = in, sorted
	for _, x := range in {
		if x.Err != nil && len(rep.Malformed) < maxMalformed {
			rep.Malformed = append(rep.Malformed, x.Err.Error())
		}
	}
	rep.HostTime.Parse = time.Since(t0)

	var engines []engine.Engine
	if opt.Engines == nil {
		engines = engine.NewPassThrough(opt.Model.Engine.Count)
	} else if engines, err = opt.Engines(opt.Model.Engine.Count); err != nil {
		return nil, nil, fmt.Errorf("engines: %w", err)
	}
	t1 := time.Now()
	res, err := sim.Run(in, sim.Options{Timing: tm, Engines: engines, KeepTransit: true, KeepMessages: true})
	if err != nil {
		return nil, nil, err
	}
	rep.HostTime.Simulate = time.Since(t1)
	rep.Sim = res
	rep.FirstExchange = firstExchangeCosts(in, res)

	out, err := output(recs, order, in, res, base)
	if err != nil {
		return nil, nil, err
	}

	if opt.ProbeFrames >= 0 {
		n := opt.ProbeFrames
		if n == 0 {
			n = 20000
		}
		t2 := time.Now()
		if rep.Saturation, err = Probe(in, tm, engines, n); err != nil {
			return nil, nil, err
		}
		rep.HostTime.Probe = time.Since(t2)
		rep.HostTime.ProbeFrames = rep.Saturation.Simulated
	}
	return rep, out, nil
}

// output lists the frames as they leave the NIC, in departure order: the
// input frames, except on connections where the filters rewrote a message:
// there the deparser's segments replace the frames that carried it, and
// later frames have their sequence or acknowledgment numbers shifted.
func output(recs []pcapio.Record, order []int, in []sim.Input, res *sim.Result, base int64) ([]pcapio.Record, error) {
	type leaving struct {
		at   model.Time
		data []byte
	}
	var all []leaving
	b := frame.NewBuilder()
	for k := range in {
		if res.Dropped[k] != sim.Forwarded {
			continue
		}
		data := recs[order[k]].Data
		pt := res.Patches[k]
		switch {
		case pt == nil:
			all = append(all, leaving{res.Depart[k], data})
		case pt.Replaced:
			pk := &in[k].Packet
			for _, sg := range pt.Segments {
				f, err := b.Append(nil, &frame.Segment{Src: pk.Src, Dst: pk.Dst, Seq: sg.Seq, Ack: sg.Ack,
					Flags: sg.Flags, Window: pk.Window, Payload: sg.Payload})
				if err != nil {
					return nil, fmt.Errorf("record %d: building a rewritten segment: %w", order[k]+1, err)
				}
				all = append(all, leaving{sg.Depart, f})
			}
		default:
			f, err := frame.ShiftSeqAck(data, pt.SeqDelta, pt.AckDelta)
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", order[k]+1, err)
			}
			all = append(all, leaving{res.Depart[k], f})
		}
	}
	slices.SortStableFunc(all, func(a, b leaving) int { return cmpInt64(int64(a.at), int64(b.at)) })
	out := make([]pcapio.Record, len(all))
	for i, l := range all {
		out[i] = pcapio.Record{Time: base + l.at.Nanoseconds(), Data: l.data, OrigLen: len(l.data)}
	}
	return out, nil
}

// firstExchangeCosts returns, per connection whose handshake and first
// exchange are in the capture, the time the NIC adds to that exchange as its
// client sees it: the transits of the SYN, the SYN-ACK, the frame that
// completes the request and the frame that completes the response. Each is
// on the client's critical path; the handshake's final ACK is not (the
// request follows it at once).
func firstExchangeCosts(in []sim.Input, res *sim.Result) []model.Time {
	type hs struct{ syn, synack int32 }
	shakes := map[flow.Key]*hs{}
	var keys []flow.Key
	for _, m := range res.Messages {
		if m.Exchange != 0 {
			continue
		}
		if _, ok := shakes[m.Flow]; !ok {
			shakes[m.Flow] = &hs{-1, -1}
			keys = append(keys, m.Flow)
		}
	}
	transit := func(i int32) (model.Time, bool) {
		if i < 0 || res.Dropped[i] != sim.Forwarded {
			return 0, false
		}
		return res.Depart[i] - in[i].Time, true
	}
	for i := range in {
		pk := &in[i].Packet
		if in[i].Err != nil || pk.Kind != frame.KindTCP || pk.Flags&frame.SYN == 0 {
			continue
		}
		k, _ := flow.KeyOf(pk.Src, pk.Dst, in[i].Epoch)
		h := shakes[k]
		if h == nil {
			continue
		}
		if pk.Flags&frame.ACK == 0 && h.syn < 0 {
			h.syn = int32(i)
		} else if pk.Flags&frame.ACK != 0 && h.synack < 0 {
			h.synack = int32(i)
		}
	}
	req := map[flow.Key]int32{}
	resp := map[flow.Key]int32{}
	for _, m := range res.Messages {
		if m.Exchange != 0 || m.Drop != sim.Forwarded {
			continue
		}
		if m.Request {
			req[m.Flow] = m.Frame
		} else if _, ok := resp[m.Flow]; !ok && m.Final {
			resp[m.Flow] = m.Frame
		}
	}
	var out []model.Time
	for _, k := range keys {
		h := shakes[k]
		a, ok1 := transit(h.syn)
		b, ok2 := transit(h.synack)
		rq, okq := req[k]
		rs, oks := resp[k]
		if !(ok1 && ok2 && okq && oks) {
			continue
		}
		c, ok3 := transit(rq)
		d, ok4 := transit(rs)
		if ok3 && ok4 {
			out = append(out, a+b+c+d)
		}
	}
	return out
}
