package bookinfo

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

// fetchLoop GETs url b.N times over one keep-alive connection and checks the
// status, so a benchmark measures the service chain, not the client's dials.
func fetchLoop(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		n, _ := buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		b.SetBytes(n)
	}
}

// BenchmarkProductpage is one /productpage through the whole app on loopback
// (productpage → details, then reviews v3 → ratings), with a new upstream
// connection per call as the original, and with pooling.
func BenchmarkProductpage(b *testing.B) {
	for _, c := range []struct {
		name string
		pool bool
	}{{"new-conn-per-call", false}, {"pooled", true}} {
		b.Run(c.name, func(b *testing.B) {
			a := startApp(b, "v3", Config{PoolUpstreams: c.pool})
			fetchLoop(b, a.productpage.url("/productpage"))
		})
	}
}

// BenchmarkServices is each service alone on loopback (reviews v3 includes
// its pooled call to ratings).
func BenchmarkServices(b *testing.B) {
	a := startApp(b, "v3", Config{})
	for _, c := range []struct{ name, url string }{
		{"details", a.details.url("/details/0")},
		{"ratings", a.ratings.url("/ratings/0")},
		{"reviews-v3", a.reviews.url("/reviews/0")},
		{"productpage-api-details", a.productpage.url("/api/v1/products/0")},
	} {
		b.Run(c.name, func(b *testing.B) { fetchLoop(b, c.url) })
	}
}

// BenchmarkPageRender is productpage's page alone: parse both upstream
// answers, fill the view and execute the template.
func BenchmarkPageRender(b *testing.B) {
	var dt, rt jsontree.Tree
	b.ReportAllocs()
	for b.Loop() {
		if dt.Parse(detailsBody0) != nil || rt.Parse(reviewsBodyV3) != nil {
			b.Fatal("parse")
		}
		p := pagePool.Get().(*pageData)
		p.fill("", dt.Root(), rt.Root(), upstreamCall{Service: "details", OK: true, Answer: "200 OK"}, upstreamCall{Service: "reviews", OK: true, Answer: "200 OK"})
		if err := pageTemplate.Execute(io.Discard, p); err != nil {
			b.Fatal(err)
		}
		*p = pageData{}
		pagePool.Put(p)
	}
}
