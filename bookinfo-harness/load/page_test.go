package load

import "testing"

// pythonPage is shaped like the original (Python) productpage's markup
// around the podname, as a real Istio deployment serves it.
const pythonPage = `<div class="text-sm leading-6">
  <div class="font-semibold text-gray-900">Reviewer1</div>
  <div class="mt-0.5 text-gray-600 font-mono">Reviews served by: 
    reviews-v2-5b667bcbf8-xvj2z
  </div>`

func TestClassifyPage(t *testing.T) {
	for _, tc := range []struct {
		name string
		page string
		want Page
	}{
		{"nicrt page", `<p class="served">Reviews served by: reviews-v3</p>`, Page{Version: "v3"}},
		{"nicrt page with cluster", `<p class="served">Reviews served by: reviews-v1 on cluster east</p>`, Page{Version: "v1"}},
		{"python page", pythonPage, Page{Version: "v2"}},
		{"no podname version", `Reviews served by: reviews-abc</p>`, Page{}},
		{"two-digit version", `Reviews served by: reviews-v12</p>`, Page{}},
		{"version later in the pod name", `Reviews served by: my-reviews-x-v4-abc`, Page{Version: "v4"}},
		{"podname null", `Reviews served by: null</p>`, Page{}},
		{"marker at the end", `Reviews served by:`, Page{}},
		{"reviews failed", `<h2 class="failed">Error fetching product reviews!</h2>`, Page{Degraded: true}},
		{"details failed", `Error fetching product details! ... Reviews served by: reviews-v2`, Page{Version: "v2", Degraded: true}},
		{"ratings failed", `Ratings service is currently unavailable ... Reviews served by: reviews-v3`, Page{Version: "v3", Degraded: true}},
		{"empty", ``, Page{}},
	} {
		if got := ClassifyPage([]byte(tc.page)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func FuzzClassifyPage(f *testing.F) {
	f.Add([]byte(pythonPage))
	f.Add([]byte("Reviews served by: reviews-v1"))
	f.Add([]byte("Reviews served by:\n\t-v"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := ClassifyPage(b)
		if p.Version != "" && (len(p.Version) != 2 || p.Version[0] != 'v') {
			t.Fatalf("version %q", p.Version)
		}
	})
}

func BenchmarkClassifyPage(b *testing.B) {
	page := make([]byte, 0, 15000)
	for len(page) < 14000 {
		page = append(page, "<div class=\"x\">lorem ipsum dolor sit amet</div>\n"...)
	}
	page = append(page, `<p class="served">Reviews served by: reviews-v3</p>`...)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		ClassifyPage(page)
	}
}
