package bookinfo

import (
	"embed"
	"html/template"
	"net/http"
	"strconv"
	"sync"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

//go:embed templates/productpage.html
var templateFS embed.FS

// pageTemplate is productpage's HTML, parsed once.
var pageTemplate = template.Must(template.ParseFS(templateFS, "templates/productpage.html"))

// The product productpage shows; the original hard-codes it too.
const (
	productTitle = "The Comedy of Errors"
	productDesc  = `<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.`
	// productsJSON is /api/v1/products as Python's json.dumps prints it.
	productsJSON = `[{"id": 0, "title": "The Comedy of Errors", "descriptionHtml": "<a href=\"https://en.wikipedia.org/wiki/The_Comedy_of_Errors\">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play."}]`
)

// pageData is what the template renders. It is pooled, with fixed arrays
// behind its slices, so building a page allocates little.
type pageData struct {
	User         string
	Title        string
	Description  template.HTML
	DetailsOK    bool
	Details      []detailRow
	DetailsError string
	ReviewsOK    bool
	Reviews      []reviewView
	ReviewsError string
	PodName      string
	ClusterName  string
	Calls        []upstreamCall

	detailsArr [len(detailFields)]detailRow
	reviewsArr [4]reviewView
	callsArr   [2]upstreamCall
}

// upstreamCall describes one upstream lookup of a page, for the page's
// "How this page was built" table.
type upstreamCall struct {
	N          int
	Service    string
	Addr, Path string
	Status     int
	StatusText string
	Attempts   int
}

type detailRow struct{ Label, Value string }

type reviewView struct {
	Text, Reviewer string
	Color          string
	Stars          []bool // one entry per star drawn, true when full; nil: no stars
	Score          int
	RatingError    string
}

var pagePool = sync.Pool{New: func() any { return new(pageData) }}

// detailFields are the details shown, in order, with their labels.
var detailFields = [...]struct{ key, label string }{
	{"author", "Author"}, {"year", "Year"}, {"type", "Type"}, {"pages", "Pages"},
	{"publisher", "Publisher"}, {"language", "Language"}, {"ISBN-10", "ISBN-10"}, {"ISBN-13", "ISBN-13"},
}

// starRows[n] draws n full stars and 5-n empty ones; shared and never written.
var starRows = func() (rows [6][]bool) {
	for n := range rows {
		rows[n] = make([]bool, 5)
		for i := range n {
			rows[n][i] = true
		}
	}
	return rows
}()

// fill sets the page from productpage's upstream answers. details and reviews
// are Missing when their call failed.
func (p *pageData) fill(user string, details, reviews jsontree.Value, calls ...upstreamCall) {
	*p = pageData{User: user, Title: productTitle, Description: template.HTML(productDesc)}
	p.Calls = p.callsArr[:0]
	for i, c := range calls {
		c.N, c.StatusText = i+1, http.StatusText(c.Status)
		p.Calls = append(p.Calls, c)
	}
	if details.Kind() == jsontree.Object {
		p.DetailsOK = true
		p.Details = p.detailsArr[:0]
		for _, f := range detailFields {
			if v := details.Get(f.key); v.Exists() {
				p.Details = append(p.Details, detailRow{f.label, pythonStr(v)})
			}
		}
	} else {
		p.DetailsError = "Sorry, product details are currently unavailable for this book."
	}
	if reviews.Kind() != jsontree.Object {
		p.ReviewsError = "Sorry, product reviews are currently unavailable for this book."
		return
	}
	p.ReviewsOK = true
	p.PodName = reviews.Get("podname").Text()
	if c := reviews.Get("clustername").Text(); c != "null" {
		p.ClusterName = c
	}
	p.Reviews = p.reviewsArr[:0]
	for rv := reviews.Get("reviews").First(); rv.Exists() && len(p.Reviews) < len(p.reviewsArr); rv = rv.Next() {
		view := reviewView{Text: pythonStr(rv.Get("text")), Reviewer: pythonStr(rv.Get("reviewer"))}
		rating := rv.Get("rating")
		if stars := rating.Get("stars"); stars.Kind() == jsontree.Number {
			n, _ := strconv.ParseFloat(stars.Text(), 64)
			score := int(min(max(n, 0), 5))
			if n != 0 { // the original draws stars only for a truthy count
				view.Stars, view.Score = starRows[score], score
				view.Color = pythonStr(rating.Get("color"))
			}
		}
		if view.Stars == nil {
			if e := rating.Get("error"); e.Exists() {
				view.RatingError = pythonStr(e)
			}
		}
		p.Reviews = append(p.Reviews, view)
	}
}

// pythonStr renders a JSON value as the original's Jinja template prints a
// decoded value: strings as they are, numbers and literals as Python spells
// them, missing values as nothing.
func pythonStr(v jsontree.Value) string {
	switch v.Kind() {
	case jsontree.Missing:
		return ""
	case jsontree.String:
		return v.Text()
	case jsontree.True:
		return "True"
	case jsontree.False:
		return "False"
	case jsontree.Null:
		return "None"
	}
	return string(jsontree.AppendPython(nil, v))
}
