package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
)

// seriesStyle is how a series is drawn. The local topologies keep the seed
// paper's colours where it has a counterpart (no proxy green, inbound Envoy
// black, inbound+outbound Envoy yellow, here a darker amber to stay readable
// on white).
type seriesStyle struct {
	color color.Color
	shape draw.GlyphDrawer
	dash  []vg.Length
}

var known = map[string]seriesStyle{
	"direct":          {color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, draw.CircleGlyph{}, nil},
	"sidecar-inbound": {color.RGBA{0x22, 0x22, 0x22, 0xff}, draw.SquareGlyph{}, nil},
	"sidecar-both":    {color.RGBA{0xe0, 0xa0, 0x00, 0xff}, draw.TriangleGlyph{}, nil},
	"nic-passthrough": {color.RGBA{0x17, 0xbe, 0xcf, 0xff}, draw.PyramidGlyph{}, []vg.Length{vg.Points(5), vg.Points(3)}},
	"nic-offload":     {color.RGBA{0x94, 0x67, 0xbd, 0xff}, draw.RingGlyph{}, []vg.Length{vg.Points(5), vg.Points(3)}},
}

// others colour external series and any further ones.
var others = []seriesStyle{
	{color.RGBA{0x1f, 0x77, 0xb4, 0xff}, draw.CrossGlyph{}, []vg.Length{vg.Points(2), vg.Points(2)}},
	{color.RGBA{0xd6, 0x27, 0x28, 0xff}, draw.PlusGlyph{}, []vg.Length{vg.Points(2), vg.Points(2)}},
	{color.RGBA{0x8c, 0x56, 0x4b, 0xff}, draw.BoxGlyph{}, []vg.Length{vg.Points(2), vg.Points(2)}},
	{color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, draw.CircleGlyph{}, []vg.Length{vg.Points(6), vg.Points(2)}},
}

// Plot draws p90 latency against connections, one line per series, with
// the spread over repeats as error bars, and saves it to each path (the
// format follows the extension: .png, .svg, .pdf).
func Plot(r *bench.Results, paths ...string) error {
	p := plot.New()
	p.Title.Text = "Bookinfo /productpage: p90 latency vs connections\n" + subtitle(r)
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "concurrent connections"
	p.Y.Label.Text = "p90 latency (ms)"
	p.X.Scale = plot.LogScale{}
	ls := levels(r.Cells)
	ticks := make([]plot.Tick, len(ls))
	for i, n := range ls {
		ticks[i] = plot.Tick{Value: float64(n), Label: strconv.Itoa(n)}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Tick.Marker = msTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xe0}
	grid.Horizontal.Color = color.Gray{0xe0}
	p.Add(grid)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.Padding = vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(11)

	cm := cellMap(r.Cells)
	// The latency axis shows every point; repeat bars that reach far
	// beyond (one disturbed run on a busy machine) are cut at the top, with
	// their value written there, rather than squashing every line flat.
	ymax, barMax := 0.0, 0.0
	for _, c := range r.Cells {
		ymax = math.Max(ymax, float64(c.P90))
		barMax = math.Max(barMax, float64(c.P90Max))
	}
	top := math.Max(ymax*1.1, 1e-3)
	if barMax > top {
		top = math.Max(top, math.Min(barMax*1.05, ymax*1.5))
	}
	var clipped plotter.XYLabels
	var clippedStyle []text.Style
	next := 0
	for _, s := range seriesOrder(r) {
		st, ok := known[s]
		if !ok {
			st = others[next%len(others)]
			next++
		}
		var pts plotter.XYs
		var bars errPoints
		for _, n := range ls {
			c, ok := cm[s][n]
			if !ok {
				continue
			}
			y := float64(c.P90)
			pts = append(pts, plotter.XY{X: float64(n), Y: y})
			bars = append(bars, errPoint{x: float64(n), y: y, lo: y - float64(c.P90Min), hi: float64(c.P90Max) - y})
			if r.Settings.Repeat > 1 && float64(c.P90Max) > top {
				clipped.XYs = append(clipped.XYs, plotter.XY{X: float64(n), Y: top})
				clipped.Labels = append(clipped.Labels, fmt.Sprintf("↑ %.1f", c.P90Max))
				ts := p.Legend.TextStyle
				ts.Color, ts.Font.Size = st.color, vg.Points(9)
				ts.XAlign, ts.YAlign = draw.XLeft, draw.YTop
				clippedStyle = append(clippedStyle, ts)
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", s, err)
		}
		line.Color, line.Width, line.Dashes = st.color, vg.Points(2), st.dash
		points.Color, points.Shape, points.Radius = st.color, st.shape, vg.Points(4)
		p.Add(line, points)
		if r.Settings.Repeat > 1 {
			eb, err := plotter.NewYErrorBars(bars)
			if err != nil {
				return fmt.Errorf("plot %s: %w", s, err)
			}
			eb.Color, eb.Width, eb.CapWidth = st.color, vg.Points(1), vg.Points(6)
			p.Add(eb)
		}
		p.Legend.Add(s, line, points)
	}
	// The modelled cards' projections: thin dotted lines in their series'
	// colour, no markers (computed, not measured).
	for _, pr := range r.Projections() {
		st, ok := known[pr.Series]
		if !ok {
			st.color = color.Gray{0x60}
		}
		var pts plotter.XYs
		for _, n := range ls {
			if v, ok := pr.P90[n]; ok {
				pts = append(pts, plotter.XY{X: float64(n), Y: float64(v)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", modelLabel(pr.Series), err)
		}
		line.Color, line.Width, line.Dashes = st.color, vg.Points(1.2), []vg.Length{vg.Points(1.5), vg.Points(2.5)}
		p.Add(line)
		p.Legend.Add(modelLabel(pr.Series)+" (projected)", line)
	}
	if len(clipped.XYs) > 0 {
		lb, err := plotter.NewLabels(clipped)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		lb.TextStyle = clippedStyle
		lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(-2)}
		p.Add(lb)
	}
	p.Y.Min, p.Y.Max = 0, top
	if len(ls) == 1 { // a log axis needs a range
		p.X.Min, p.X.Max = float64(ls[0])/2, float64(ls[0])*2
	} else if len(ls) > 1 {
		p.X.Min, p.X.Max = float64(ls[0])/1.25, float64(ls[len(ls)-1])*1.25
	}
	for _, path := range paths {
		if err := save(p, path); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	return nil
}

// save writes the plot in the format of path's extension; PNGs at 150 dpi.
func save(p *plot.Plot, path string) error {
	const w, h = 9 * vg.Inch, 5.5 * vg.Inch
	if !strings.EqualFold(filepath.Ext(path), ".png") {
		return p.Save(w, h, path)
	}
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(150))}
	p.Draw(draw.New(c))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// subtitle says how the points were measured.
func subtitle(r *bench.Results) string {
	load := "closed loop"
	if r.Settings.QPS != "max" {
		load = r.Settings.QPS + " req/s"
	}
	runs := fmt.Sprintf("%d runs per point, bars: lowest to highest run", r.Settings.Repeat)
	if r.Settings.Repeat == 1 {
		runs = "1 run per point"
	}
	return fmt.Sprintf("%s, %s per run, %s; %d CPUs, %s", load, r.Settings.Duration, runs, r.Machine.CPUs, r.Started.Format("2006-01-02"))
}

// errPoint is one p90 with how far the repeats' p90s reached below and
// above it.
type errPoint struct{ x, y, lo, hi float64 }

type errPoints []errPoint

// Len, XY and YError make errPoints a plotter.XYer and YErrorer.
func (e errPoints) Len() int                        { return len(e) }
func (e errPoints) XY(i int) (float64, float64)     { return e[i].x, e[i].y }
func (e errPoints) YError(i int) (float64, float64) { return e[i].lo, e[i].hi }

// msTicks labels the latency axis every 1, 2, 2.5 or 5 × 10^k ms, with
// 5 to 10 labels, and a minor tick between labels.
type msTicks struct{}

// Ticks places the labels and minor ticks between lo and hi.
func (msTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span)))
	for _, m := range []float64{0.1, 0.2, 0.25, 0.5, 1} {
		if span/(step*m) <= 10 {
			step *= m
			break
		}
	}
	var ts []plot.Tick
	first := math.Ceil(lo/step) * step
	for v := first; v <= hi+step*1e-9; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(roundTo(v, step), 'f', -1, 64)})
		if mid := v + step/2; mid <= hi {
			ts = append(ts, plot.Tick{Value: mid})
		}
	}
	return ts
}

// roundTo removes floating-point noise from a multiple of step.
func roundTo(v, step float64) float64 {
	digits := math.Max(0, -math.Floor(math.Log10(step))+2)
	p := math.Pow(10, digits)
	return math.Round(v*p) / p
}
