package live

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// WritePrometheus writes the NIC's stats in the Prometheus text format
// (version 0.0.4): the admin API's /stats/prometheus serves it.
func (n *NIC) WritePrometheus(w io.Writer) error {
	s := n.Stats()
	return s.WritePrometheus(w)
}

// WritePrometheus writes s in the Prometheus text format.
func (s *Stats) WritePrometheus(w io.Writer) error {
	b := bufio.NewWriter(w)
	family := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sec := func(d time.Duration) float64 { return d.Seconds() }
	simSec := func(t model.Time) float64 { return float64(t) / float64(model.Second) }
	dirs := [2]string{"egress", "ingress"}

	family("nicrt_nic_connections_total", "counter", "Connections through the NIC, by where it sat.")
	labeled(b, "nicrt_nic_connections_total", "kind", s.Connections)
	family("nicrt_nic_open_connections", "gauge", "Connections open through the NIC.")
	fmt.Fprintf(b, "nicrt_nic_open_connections %d\n", s.Open)
	for _, m := range []struct {
		name, help string
		v          [2]int64
	}{
		{"nicrt_nic_frames_in_total", "Frames offered to the NIC.", s.FramesIn},
		{"nicrt_nic_frames_out_total", "Frames the NIC released.", s.FramesOut},
		{"nicrt_nic_bytes_in_total", "TCP payload bytes offered to the NIC.", s.BytesIn},
		{"nicrt_nic_bytes_out_total", "TCP payload bytes the NIC released (as the filters left them).", s.BytesOut},
		{"nicrt_nic_messages_total", "HTTP messages the NIC released.", s.Messages},
		{"nicrt_nic_requests_total", "HTTP requests the NIC released.", s.Requests},
	} {
		family(m.name, "counter", m.help+" By direction (ingress: wire to host).")
		for i, d := range dirs {
			fmt.Fprintf(b, "%s{direction=%q} %d\n", m.name, d, m.v[i])
		}
	}
	family("nicrt_nic_modeled_seconds_total", "counter", "Time the modelled card added: each released message's last-frame transit plus connections' handshake transit.")
	fmt.Fprintf(b, "nicrt_nic_modeled_seconds_total %g\n", sec(s.Modeled))
	family("nicrt_nic_underruns_total", "counter", fmt.Sprintf("Released messages that left more than the tolerance (%v) after their modeled departure.", s.Tolerance))
	fmt.Fprintf(b, "nicrt_nic_underruns_total %d\n", s.Underruns)
	family("nicrt_nic_kind_messages_total", "counter", "Released HTTP messages by kind: requests in (wire to host), responses out, requests out (host to wire), responses in.")
	for k, kl := range s.ByKind {
		fmt.Fprintf(b, "nicrt_nic_kind_messages_total{kind=%q} %d\n", kindLabels[k], kl.Lateness.N)
	}
	family("nicrt_nic_kind_underruns_total", "counter", "Underruns by message kind.")
	for k, kl := range s.ByKind {
		fmt.Fprintf(b, "nicrt_nic_kind_underruns_total{kind=%q} %d\n", kindLabels[k], kl.Underruns)
	}
	for _, l := range []struct {
		name, help string
		v          Latency
	}{
		{"nicrt_nic_message_lateness_seconds", "How late each released message's last frame left compared to the model.", s.MessageLateness},
		{"nicrt_nic_frame_lateness_seconds", "How late each released frame left compared to the model.", s.FrameLateness},
		{"nicrt_nic_clock_oversleep_seconds", "How much later than asked the OS woke the NIC's clock.", s.Oversleep},
	} {
		family(l.name, "summary", l.help)
		for _, q := range []struct {
			q string
			v time.Duration
		}{{"0.5", l.v.P50}, {"0.9", l.v.P90}, {"0.99", l.v.P99}, {"1", l.v.Max}} {
			fmt.Fprintf(b, "%s{quantile=%q} %g\n", l.name, q.q, sec(q.v))
		}
		fmt.Fprintf(b, "%s_sum %g\n%s_count %d\n", l.name, sec(l.v.Mean)*float64(l.v.N), l.name, l.v.N)
	}
	family("nicrt_nic_clock_margin_seconds", "gauge", "How long before a deadline the clock asks to be woken (then spins).")
	fmt.Fprintf(b, "nicrt_nic_clock_margin_seconds %g\n", sec(s.Margin))
	family("nicrt_nic_dropped_frames_total", "counter", "Frames the simulated NIC did not forward, by reason.")
	labeled(b, "nicrt_nic_dropped_frames_total", "reason", s.Dropped)
	for _, c := range []struct {
		name, help string
		v          int64
	}{
		{"nicrt_nic_local_replies_total", "Requests the filters answered locally.", s.LocalReplies},
		{"nicrt_nic_filter_errors_total", "Messages the filters failed on (answered 500, fail closed).", s.FilterErrors},
		{"nicrt_nic_filter_resets_total", "Streams the filters reset.", s.Resets},
		{"nicrt_nic_filter_paused_total", "Messages held while their filter paused (fault delay, callout).", s.Paused},
		{"nicrt_nic_replies_total", "Responses the NIC produced itself (unknown cluster, unreachable upstream).", s.NICReplies},
		{"nicrt_nic_aborted_connections_total", "Connections the NIC reset.", s.Aborted},
		{"nicrt_nic_upstream_errors_total", "Failed connects to upstreams.", s.UpstreamErrors},
		{"nicrt_nic_unknown_cluster_total", "Requests routed to a cluster that is not configured.", s.UnknownClusters},
	} {
		family(c.name, "counter", c.help)
		fmt.Fprintf(b, "%s %d\n", c.name, c.v)
	}
	st := &s.Sim
	family("nicrt_nic_stage_frames_total", "counter", "Frames through each simulated pipeline stage.")
	for i := sim.Stage(0); i < sim.NumStages; i++ {
		fmt.Fprintf(b, "nicrt_nic_stage_frames_total{stage=%q} %d\n", i, st.Stages[i].Frames)
	}
	family("nicrt_nic_stage_seconds_total", "counter", "Simulated time frames spent in each stage.")
	for i := sim.Stage(0); i < sim.NumStages; i++ {
		fmt.Fprintf(b, "nicrt_nic_stage_seconds_total{stage=%q} %g\n", i, simSec(st.Stages[i].Total))
	}
	family("nicrt_nic_stage_queue_seconds_total", "counter", "Simulated time frames spent queueing for each stage.")
	for i := sim.Stage(0); i < sim.NumStages; i++ {
		fmt.Fprintf(b, "nicrt_nic_stage_queue_seconds_total{stage=%q} %g\n", i, simSec(st.Stages[i].Wait))
	}
	e := &st.Engine
	family("nicrt_nic_engine_messages_total", "counter", "HTTP messages the engines ran.")
	fmt.Fprintf(b, "nicrt_nic_engine_messages_total %d\n", e.Messages)
	family("nicrt_nic_engine_instructions_total", "counter", "Wasm instructions the filters executed on the engines.")
	fmt.Fprintf(b, "nicrt_nic_engine_instructions_total %d\n", e.Instructions)
	family("nicrt_nic_engine_service_seconds_total", "counter", "Simulated engine time (dispatch and filters).")
	fmt.Fprintf(b, "nicrt_nic_engine_service_seconds_total %g\n", simSec(e.Service))
	family("nicrt_nic_engine_queue_seconds_total", "counter", "Simulated time messages waited for an engine.")
	fmt.Fprintf(b, "nicrt_nic_engine_queue_seconds_total %g\n", simSec(e.Wait))
	family("nicrt_nic_engine_queue_full_total", "counter", "Messages dropped because every engine queue was full.")
	fmt.Fprintf(b, "nicrt_nic_engine_queue_full_total %d\n", e.QueueFull)
	return b.Flush()
}

// labeled writes one sample per map entry, label values sorted.
func labeled(w io.Writer, name, label string, m map[string]int64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=%q} %d\n", name, label, k, m[k])
	}
}
