package bench

// The nic-* series measure a host that simulates its NICs in software; on
// a small machine that simulation costs more than the card it models, and
// the measured latency carries it (the NICs' underrun counts say how much).
// The model itself states what the card adds, free of host overhead: every
// NIC accounts for the modeled transit of what crossed it. Bookinfo's calls
// run one after another, so along a page's path those transits add up, and
// the card's share of a page is their sum over all the NICs divided by the
// pages served. A projection adds that share to a series measured without
// NICs (direct): what the same application would see with the modelled
// cards in its path and no simulation cost on its hosts.

// EntryHost is the host whose NIC's incoming requests count the pages.
const EntryHost = "productpage"

// ModeledPerPage is the time, in microseconds, the modelled NICs of s add
// to each page: the sum of their ModeledUS over the pages productpage's
// NIC let in (warm-up and readiness checks included on both sides). ok is
// false when s has no NIC accounts or none for productpage.
func (s *Series) ModeledPerPage() (us float64, ok bool) {
	var total float64
	var pages int64
	for _, n := range s.NICs {
		total += n.ModeledUS
		if n.Host == EntryHost {
			pages = n.RequestsIn
		}
	}
	if pages == 0 {
		return 0, false
	}
	return total / float64(pages), true
}

// Projection is a series' modelled cards added to the baseline: the
// latency the application would have with those cards in its path and
// hosts that do not pay to simulate them.
type Projection struct {
	// Series is the measured series whose NICs are projected.
	Series string `json:"series"`
	// Baseline is the series measured without NICs that the cards' time is
	// added to.
	Baseline string `json:"baseline"`
	// ModeledPerPageUS is the cards' time per page (Series.ModeledPerPage).
	ModeledPerPageUS float64 `json:"modeled_per_page_us"`
	// P90 is the projected p90 per connection level: the baseline's p90 at
	// that level plus ModeledPerPageUS.
	P90 map[int]Millis `json:"p90_ms"`
}

// Projections projects every series with NIC accounts onto the baseline's
// cells. Adding a constant to every latency moves each percentile by that
// constant, so the projected p90 is exact for a card that adds the same
// time to every page; under closed-loop load, the time pages spend on the
// cards would also thin the offered load a little, which the projection
// does not model.
func (r *Results) Projections() []Projection {
	base := map[int]Millis{}
	for _, c := range r.Cells {
		if c.Series == r.Baseline {
			base[c.Connections] = c.P90
		}
	}
	if len(base) == 0 {
		return nil
	}
	var out []Projection
	for i := range r.Series {
		s := &r.Series[i]
		us, ok := s.ModeledPerPage()
		if !ok || s.Name == r.Baseline {
			continue
		}
		p := Projection{Series: s.Name, Baseline: r.Baseline, ModeledPerPageUS: us, P90: map[int]Millis{}}
		for n, b := range base {
			p.P90[n] = b + Millis(us/1000)
		}
		out = append(out, p)
	}
	return out
}
