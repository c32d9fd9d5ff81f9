package replay

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// WriteStages writes the per-stage table (frames, mean time, mean queueing
// and maximum per stage, in µs) of a simulation's stats; the live NIC's
// summary prints the same table.
func WriteStages(w io.Writer, st *sim.Stats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tframes\tmean\tqueue\tmax\t")
	for s := sim.Stage(0); s < sim.NumStages; s++ {
		x := &st.Stages[s]
		if x.Frames == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", s, x.Frames, us(x.Mean()), us(x.MeanWait()), us(x.Max))
	}
	tw.Flush()
}

// us formats a time in microseconds with nanosecond precision.
func us(t model.Time) string { return fmt.Sprintf("%.3f", t.Microseconds()) }

// WriteText writes the deterministic report: model, traffic, per-stage
// latency table, transit percentiles, engines, first-exchange cost and the
// saturation point. Host timing is separate (WriteHostTime) because it
// differs from run to run.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	c := &r.Model
	st := &r.Sim.Stats
	fmt.Fprintf(&b, "model %s: NIC clock %g MHz, %d B datapath, %g Gb/s line, MAC/PHY %g ns, DMA %g ns @ %g Gb/s,\n",
		c.Name, c.ClockMHz, c.DatapathBytes, c.LineRateGbps, c.MACPHYLatencyNs, c.PCIe.DMALatencyNs, c.PCIe.Gbps)
	fmt.Fprintf(&b, "  %d engines @ %g MHz, %g cycles/instruction + %d cycles/message, queue %d (%s), cost %s\n",
		c.Engine.Count, c.Engine.ClockMHz, c.Engine.CyclesPerInstruction, c.Engine.PerMessageCycles,
		c.Engine.QueueDepth, c.Engine.QueuePolicy, c.Engine.Cost)
	fmt.Fprintf(&b, "host behind the NIC: %v (%s); ingress = toward it, egress = from it\n", r.Host, r.HostReason)
	fmt.Fprintf(&b, "frames: %d in, %d forwarded, %d dropped", r.Records, st.Forwarded, st.DroppedTotal())
	var drops []string
	for d := sim.Drop(1); int(d) < len(st.Dropped); d++ {
		if st.Dropped[d] > 0 {
			drops = append(drops, fmt.Sprintf("%s %d", d, st.Dropped[d]))
		}
	}
	if len(drops) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(drops, ", "))
	}
	fmt.Fprintf(&b, "; %d flows, %d HTTP messages, %d non-TCP frames\n", st.Flows, st.Engine.Messages, st.NonTCP)
	if r.Sorted > 0 {
		fmt.Fprintf(&b, "note: %d records were out of time order and were replayed sorted by time\n", r.Sorted)
	}
	if st.Rewritten > 0 || st.RewriteErrors > 0 {
		fmt.Fprintf(&b, "rewrites: the filters changed %d messages; the deparser re-segmented them and shifted the later sequence/ack numbers of their connections",
			st.Rewritten)
		if st.RewriteErrors > 0 {
			fmt.Fprintf(&b, "; %d rewrites could not be applied (see errors)", st.RewriteErrors)
		}
		b.WriteString("\n")
	}
	if st.Flushed > 0 {
		fmt.Fprintf(&b, "note: %d frames were still held in incomplete messages when the capture ended; released unfiltered\n", st.Flushed)
	}
	if st.Tunnels > 0 {
		fmt.Fprintf(&b, "note: %d connection directions became tunnels (CONNECT/Upgrade) and bypassed the engines\n", st.Tunnels)
	}
	for _, m := range r.Malformed {
		fmt.Fprintf(&b, "dropped by the parser: %s\n", m)
	}
	for _, e := range st.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}

	b.WriteString("\nper-stage time in µs (mean over the frames that passed the stage; queue = part spent waiting):\n")
	WriteStages(&b, st)

	b.WriteString("\ntransit per frame in µs (arrival at the NIC → departure; dropped frames excluded):\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "direction\tframes\tmean\tp50\tp90\tp99\tmax\t")
	for _, d := range []struct {
		name   string
		toHost bool
	}{{"ingress (wire→host)", true}, {"egress (host→wire)", false}} {
		n := st.TransitN[b2i(d.toHost)]
		if n == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", d.name, n, us(st.MeanTransit(d.toHost)),
			us(st.Percentile(d.toHost, 50)), us(st.Percentile(d.toHost, 90)),
			us(st.Percentile(d.toHost, 99)), us(st.Percentile(d.toHost, 100)))
	}
	tw.Flush()

	e := &st.Engine
	if e.Messages > 0 {
		fmt.Fprintf(&b, "\nengines: %d messages, %d wasm instructions; mean service %s µs, mean queue wait %s µs (max %s), max queue depth %d",
			e.Messages, e.Instructions, us(e.Service/model.Time(e.Messages)), us(e.Wait/model.Time(e.Messages)), us(e.MaxWait), e.MaxDepth)
		if e.Blocked > 0 {
			fmt.Fprintf(&b, "; backpressure stalled reassembly %d times for %s µs", e.Blocked, us(e.BlockedTime))
		}
		fmt.Fprintf(&b, "\n  messages per engine: %v\n", e.PerEngine)
	}
	if n := len(r.FirstExchange); n > 0 {
		var sum, mx model.Time
		mn := r.FirstExchange[0]
		for _, x := range r.FirstExchange {
			sum += x
			mx, mn = max(mx, x), min(mn, x)
		}
		fmt.Fprintf(&b, "\nadded to a connection's first exchange as its client sees it (SYN + SYN-ACK + request + response transits):\n"+
			"  mean %s µs, min %s, max %s over %d connections\n", us(sum/model.Time(n)), us(mn), us(mx), n)
	}
	if s := r.Saturation; s != nil {
		fmt.Fprintf(&b, "\nsaturation point: %.3f Mpps = %.2f Gb/s on the wire (%.2f Gb/s of frame data), both directions together; bottleneck: %s\n",
			s.Rate/1e6, s.Gbps, s.DataGbps, s.Bottleneck)
		fmt.Fprintf(&b, "  method: the capture's %d frames, repeated as fresh connections to %d frames and offered uniformly spaced\n"+
			"  (open loop), are simulated once at 0.1 Mpps to measure each resource's busy time per frame; the saturation\n"+
			"  point is the rate at which the busiest one is busy 100%% of the time (utilization law). Probes at fractions\n"+
			"  of it confirm it: below it transit is stationary, above it the late frames' transit grows (queue building).\n",
			len(r.Inputs), s.Frames)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "offered\tMpps\tGb/s\tbottleneck load\tmean transit µs\t2nd quarter\tlast quarter\tdrops\tqueue\t")
		for _, p := range s.Points {
			q := "stable"
			if p.Growing {
				q = "growing"
			}
			fmt.Fprintf(tw, "%.0f%%\t%.3f\t%.2f\t%.0f%%\t%s\t%s\t%s\t%d\t%s\t\n", p.Fraction*100, p.Rate/1e6,
				p.Fraction*s.Gbps, p.Utilization*100, us(p.MeanTransit), us(p.Early), us(p.Late), p.Drops, q)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHostTime writes how fast the host simulated: the part of the report
// that is not deterministic.
func (r *Report) WriteHostTime(w io.Writer) error {
	h := &r.HostTime
	rate := func(frames int, d float64) string {
		if d <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f M frames/s", float64(frames)/d/1e6)
	}
	_, err := fmt.Fprintf(w, "simulation speed (host-dependent): replay %d frames in %v (%s); parse %v; saturation probe %d frames in %v (%s)\n",
		r.Records, h.Simulate.Round(1e3), rate(r.Records, h.Simulate.Seconds()), h.Parse.Round(1e3),
		h.ProbeFrames, h.Probe.Round(1e3), rate(h.ProbeFrames, h.Probe.Seconds()))
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
