// Package report writes what `nicrt bench` measured: results.json (every
// run's raw histogram and the metadata to reproduce it), results.csv (one
// row per series and connection level), report.md (the tables people read),
// and p90-vs-connections.png/.svg (one line per series, like Figure 2 of the
// seed paper).
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
	"github.com/nicrt/nicrt/bookinfo-harness/load"
)

// The files Write creates in its directory.
const (
	JSONFile = "results.json"
	CSVFile  = "results.csv"
	MDFile   = "report.md"
	PNGFile  = "p90-vs-connections.png"
	SVGFile  = "p90-vs-connections.svg"
)

// Write creates dir if needed and writes every output file into it.
func Write(dir string, r *bench.Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, JSONFile), indentJSON(js), 0o644); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer, *bench.Results) error
	}{{CSVFile, WriteCSV}, {MDFile, WriteMarkdown}} {
		if err := writeFile(filepath.Join(dir, f.name), func(w io.Writer) error { return f.write(w, r) }); err != nil {
			return err
		}
	}
	return Plot(r, filepath.Join(dir, PNGFile), filepath.Join(dir, SVGFile))
}

func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// versionsOf lists the reviews versions seen in any cell, "" (none) last.
func versionsOf(cells []bench.Cell) []string {
	seen := map[string]bool{}
	for _, c := range cells {
		for v := range c.Shares {
			seen[v] = true
		}
	}
	vs := make([]string, 0, len(seen))
	for v := range seen {
		vs = append(vs, v)
	}
	load.SortVersions(vs)
	return vs
}

func versionLabel(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// WriteCSV writes one row per series and connection level.
func WriteCSV(w io.Writer, r *bench.Results) error {
	vs := versionsOf(r.Cells)
	head := []string{"series", "connections", "repeats", "requests", "qps", "errors", "error_rate",
		"p50_ms", "p90_ms", "p99_ms", "max_ms", "p90_min_ms", "p90_max_ms", "p90_ratio_to_" + baselineName(r)}
	for _, v := range vs {
		head = append(head, "share_"+versionLabel(v))
	}
	cw := csv.NewWriter(w)
	cw.Write(head)
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, c := range r.Cells {
		rate := 0.0
		if c.Requests > 0 {
			rate = float64(c.Errors) / float64(c.Requests)
		}
		ratio := ""
		if c.RatioToBaseline > 0 {
			ratio = f(c.RatioToBaseline, 4)
		}
		row := []string{c.Series, strconv.Itoa(c.Connections), strconv.Itoa(c.Repeats), strconv.FormatUint(c.Requests, 10),
			f(c.QPS, 1), strconv.FormatUint(c.Errors, 10), f(rate, 6),
			f(float64(c.P50), 3), f(float64(c.P90), 3), f(float64(c.P99), 3), f(float64(c.Max), 3),
			f(float64(c.P90Min), 3), f(float64(c.P90Max), 3), ratio}
		for _, v := range vs {
			row = append(row, f(c.Shares[v], 4))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func baselineName(r *bench.Results) string {
	if r.Baseline == "" {
		return "baseline"
	}
	return r.Baseline
}

// levels lists the connection levels present, in order.
func levels(cells []bench.Cell) []int {
	seen := map[int]bool{}
	var ls []int
	for _, c := range cells {
		if !seen[c.Connections] {
			seen[c.Connections] = true
			ls = append(ls, c.Connections)
		}
	}
	sort.Ints(ls)
	return ls
}

// seriesOrder lists the series with cells, in the results' order.
func seriesOrder(r *bench.Results) []string {
	has := map[string]bool{}
	for _, c := range r.Cells {
		has[c.Series] = true
	}
	var out []string
	for _, s := range r.Series {
		if has[s.Name] {
			out = append(out, s.Name)
		}
	}
	return out
}

func cellMap(cells []bench.Cell) map[string]map[int]bench.Cell {
	m := map[string]map[int]bench.Cell{}
	for _, c := range cells {
		if m[c.Series] == nil {
			m[c.Series] = map[int]bench.Cell{}
		}
		m[c.Series][c.Connections] = c
	}
	return m
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteTable writes the main table: p90 per series (rows) and connection
// level (columns), with the ratio to the baseline. It is valid Markdown and
// reads well on a terminal.
func WriteTable(w io.Writer, r *bench.Results) error {
	ls := levels(r.Cells)
	cm := cellMap(r.Cells)
	names := seriesOrder(r)
	rows := make([][]string, len(names))
	for k, s := range names {
		row := make([]string, len(ls))
		for i, n := range ls {
			c, ok := cm[s][n]
			switch {
			case !ok:
				row[i] = "—"
			case c.RatioToBaseline > 0 && s != r.Baseline:
				row[i] = fmt.Sprintf("%.2f (×%.2f)", c.P90, c.RatioToBaseline)
			default:
				row[i] = fmt.Sprintf("%.2f", c.P90)
			}
			if c.Errors > 0 {
				row[i] += fmt.Sprintf(" ⚠%d err", c.Errors)
			}
		}
		rows[k] = row
	}
	return writeGrid(w, "series", levelColumns(ls), names, rows)
}

// levelColumns are the column titles of connection levels.
func levelColumns(ls []int) []string {
	cols := make([]string, len(ls))
	for i, n := range ls {
		cols[i] = fmt.Sprintf("%d %s", n, plural(n, "conn", "conns"))
	}
	return cols
}

// writeGrid writes a Markdown table with a left column of names, padded so
// that it also reads well on a terminal; the other columns align right.
func writeGrid(w io.Writer, corner string, cols, names []string, rows [][]string) error {
	width := len([]rune(corner))
	for _, s := range names {
		width = max(width, len([]rune(s)))
	}
	colw := make([]int, len(cols))
	for i, c := range cols {
		colw[i] = len([]rune(c))
		for _, row := range rows {
			colw[i] = max(colw[i], len([]rune(row[i])))
		}
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-len([]rune(s)))) }
	var b strings.Builder
	b.WriteString("| " + pad(corner, width) + " |")
	for i, c := range cols {
		b.WriteString(" " + pad(c, colw[i]) + " |")
	}
	b.WriteString("\n|" + strings.Repeat("-", width+2) + "|")
	for i := range cols {
		b.WriteString(strings.Repeat("-", colw[i]+1) + ":|")
	}
	b.WriteString("\n")
	for k, s := range names {
		b.WriteString("| " + pad(s, width) + " |")
		for i := range cols {
			b.WriteString(" " + pad(rows[k][i], colw[i]) + " |")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// The sidecar topology whose filters nic-offload runs on the NICs instead.
const offloadedSeries, offloadSeries = "sidecar-both", "nic-offload"

// modelLabel names a projection's row and plot line.
func modelLabel(series string) string { return series + ", modelled card" }

// WriteProjections writes what the modelled cards would give (see
// bench.Results.Projections): the baseline's and the offloaded sidecars'
// measured p90 beside each NIC series projected onto the baseline, then
// how much of the sidecars' added p90 offloading wins back. It writes
// nothing when there is nothing to project.
func WriteProjections(w io.Writer, r *bench.Results) error {
	ps := r.Projections()
	if len(ps) == 0 {
		return nil
	}
	ls := levels(r.Cells)
	cm := cellMap(r.Cells)
	base := cm[r.Baseline]
	ratio := func(v bench.Millis, n int) string {
		if b := base[n].P90; b > 0 {
			return fmt.Sprintf("%.2f (×%.2f)", v, float64(v/b))
		}
		return fmt.Sprintf("%.2f", v)
	}
	var names []string
	var rows [][]string
	measured := func(s string) {
		if _, ok := cm[s]; !ok {
			return
		}
		row := make([]string, len(ls))
		for i, n := range ls {
			if c, ok := cm[s][n]; !ok {
				row[i] = "—"
			} else if s == r.Baseline {
				row[i] = fmt.Sprintf("%.2f", c.P90)
			} else {
				row[i] = ratio(c.P90, n)
			}
		}
		names, rows = append(names, s+" (measured)"), append(rows, row)
	}
	measured(r.Baseline)
	measured(offloadedSeries)
	for _, p := range ps {
		row := make([]string, len(ls))
		for i, n := range ls {
			row[i] = ratio(p.P90[n], n)
		}
		names = append(names, fmt.Sprintf("%s: +%.0f µs/page", modelLabel(p.Series), p.ModeledPerPageUS))
		rows = append(rows, row)
	}
	if err := writeGrid(w, "series", levelColumns(ls), names, rows); err != nil {
		return err
	}
	for _, p := range ps {
		if p.Series != offloadSeries {
			continue
		}
		var won []string
		for _, n := range ls {
			sc, ok := cm[offloadedSeries][n]
			added := sc.P90 - base[n].P90
			if !ok || added <= 0 {
				continue
			}
			won = append(won, fmt.Sprintf("%.1f%% at %d", 100*float64(added-(p.P90[n]-base[n].P90))/float64(added), n))
		}
		if len(won) > 0 {
			_, err := fmt.Fprintf(w, "\nOffloading %s's filters to the modelled cards wins back %s %s of the p90 its sidecars add.\n",
				offloadedSeries, strings.Join(won, ", "), plural(len(ls), "connection", "connections"))
			return err
		}
	}
	return nil
}

// WriteMarkdown writes report.md.
func WriteMarkdown(w io.Writer, r *bench.Results) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# Bookinfo /productpage latency by topology\n\n")
	m, sw, st := r.Machine, r.Software, r.Settings
	dirty := ""
	if sw.Dirty {
		dirty = " (with uncommitted changes)"
	}
	p("Measured %s on %s: %d CPUs (%s), %s/%s, kernel %s, load average %s at the start. nicrt %s%s, %s, fortio %s.\n\n",
		r.Started.Format("2006-01-02 15:04 MST"), m.Hostname, m.CPUs, orUnknown(m.CPUModel), m.OS, m.Arch, orUnknown(m.Kernel), orUnknown(m.LoadAvg),
		short(sw.Commit), dirty, sw.GoVersion, sw.Fortio)
	load := "closed loop: each connection sends its next request as soon as the last one is answered (`--qps max`)"
	if st.QPS != "max" {
		load = "paced at " + st.QPS + " requests/s in total"
	}
	p("Load: GET the product page over N keep-alive connections, %s; %s measured after %s of warm-up; %d %s per point; series %s. Latency is the whole request as the client sees it, kept at %s.\n\n",
		load, st.Duration, st.Warmup, st.Repeat, plural(st.Repeat, "run", "runs"), st.Order, st.Resolution)
	if r.Interrupted {
		p("**The sweep was interrupted: some points are missing.**\n\n")
	}
	if r.Baseline != "" {
		p("## p90 latency (ms), and its ratio to %s\n\n", r.Baseline)
	} else {
		p("## p90 latency (ms)\n\n")
	}
	if err := WriteTable(w, r); err != nil {
		return err
	}
	p("\n![p90 latency vs connections](%s)\n\n", PNGFile)
	if ps := r.Projections(); len(ps) > 0 {
		p("## What the modelled cards would give\n\n")
		p("The nic-* rows above are measured on hosts that simulate their NICs in software, inside each service's process; the Simulated NICs table below says how far behind the model that simulation ran. ")
		p("The model itself states how much time the cards add: each NIC accounts for the modeled transit of every message and connection handshake that crossed it, and since Bookinfo's calls run one after another, those transits add up along a page's path. ")
		p("The card time per page is their sum over all the series' NICs divided by the pages productpage's NIC let in. ")
		p("A projection adds it to %s, measured in the same sweep: the latency the application would have with the modelled cards in its path and hosts that pay nothing to simulate them. ", r.Baseline)
		p("It is exact for a card that adds the same time to every page, first-order under load (the closed loop would offer slightly less load), and computed, not measured. ")
		p("%s runs reviews v3 alone; nic-offload balances v1, v2 and v3, and v1 pages skip ratings, so charging nic-offload %s's host work errs on the slow side.\n\n", r.Baseline, r.Baseline)
		if err := WriteProjections(w, r); err != nil {
			return err
		}
		p("\n")
	}

	p("## Every point\n\n")
	vs := versionsOf(r.Cells)
	p("| series | conns | requests | req/s | errors | p50 ms | p90 ms | p99 ms | max ms | p90 over runs ms |")
	for _, v := range vs {
		p(" %s |", versionLabel(v))
	}
	p("\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for range vs {
		p("--:|")
	}
	p("\n")
	for _, c := range r.Cells {
		spread := fmt.Sprintf("%.2f", c.P90)
		if c.Repeats > 1 {
			spread = fmt.Sprintf("%.2f–%.2f", c.P90Min, c.P90Max)
		}
		p("| %s | %d | %d | %.0f | %d | %.2f | %.2f | %.2f | %.2f | %s |", c.Series, c.Connections, c.Requests, c.QPS, c.Errors,
			c.P50, c.P90, c.P99, c.Max, spread)
		for _, v := range vs {
			p(" %.1f%% |", 100*c.Shares[v])
		}
		p("\n")
	}
	p("\nThe last columns are the share of pages served by each reviews version (read from the page's \"Reviews served by\" podname; \"none\" means the page named no version). Errors are requests without an answer, answers other than 200, and pages reporting that an upstream failed.\n\n")

	p("## Series\n\n")
	for _, s := range r.Series {
		where := "external deployment"
		if s.Topology != "" {
			where = "nicrt topology `" + s.Topology + "`"
		}
		p("- **%s** — %s, `%s`", s.Name, where, s.URL)
		if len(s.Processes) > 0 {
			p("; %d processes (%s)", len(s.Processes), strings.Join(s.Processes, ", "))
		}
		for _, f := range s.Filters {
			p("; filter %s from %s (config sha256 %s", f.Kind, f.Source, short(f.ConfigSHA256))
			if f.WasmSHA256 != "" {
				p(", wasm sha256 %s", short(f.WasmSHA256))
			}
			p(")")
		}
		if s.NICModel != "" {
			p("; NIC model %s", s.NICModel)
		}
		p("\n")
	}
	for _, s := range r.Skipped {
		p("- **%s** — not measured: %s\n", s.Name, s.Reason)
	}
	writeNICs(w, r)
	p("\nRaw data: `%s` (every run's full latency histogram at 1 µs, status codes, versions, and this metadata); `%s` (this page's numbers).\n", JSONFile, CSVFile)
	return nil
}

// writeNICs reports how faithfully each simulated NIC ran its model.
func writeNICs(w io.Writer, r *bench.Results) {
	any := false
	for _, s := range r.Series {
		any = any || len(s.NICs) > 0
	}
	if !any {
		return
	}
	fmt.Fprintf(w, "\n## Simulated NICs\n\n")
	fmt.Fprintf(w, "Each message may leave a NIC no earlier than its timing model says; *lateness* is how much later it actually left, and an *underrun* a message later than the tolerance: the host could not simulate the NIC fast enough, so that NIC's latency includes host overhead the modelled card would not have. Counts cover the whole sweep, warm-up included.\n\n")
	fmt.Fprintf(w, "*Modeled* is the time the model itself says the card added per message (its transit, handshakes included), which the projection above adds up.\n\n")
	fmt.Fprintf(w, "| series | host | model | messages | modeled µs/message | underruns | lateness p50 µs | p90 µs | max µs | filter errors | NIC replies |\n|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Series {
		for _, n := range s.NICs {
			rate := 0.0
			if n.Messages > 0 {
				rate = 100 * float64(n.Underruns) / float64(n.Messages)
			}
			per := 0.0
			if n.Messages > 0 {
				per = n.ModeledUS / float64(n.Messages)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %d | %.2f | %d (%.1f%%) | %.1f | %.1f | %.1f | %d | %d |\n", s.Name, n.Host, n.Model, n.Messages, per,
				n.Underruns, rate, n.LatenessP50US, n.LatenessP90US, n.LatenessMaxUS, n.FilterErrors, n.NICReplies)
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
