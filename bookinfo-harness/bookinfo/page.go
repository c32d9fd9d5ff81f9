package bookinfo

import (
	"embed"
	"html/template"
	"net/http"
	"strconv"
	"strings"
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
	Details      detailsView
	DetailsError string
	ReviewsOK    bool
	Reviews      []reviewView
	ReviewsError string
	PodName      string
	ClusterName  string
	Calls        []upstreamCall

	reviewsArr [4]reviewView
	callsArr   [2]upstreamCall
}

// upstreamCall describes one upstream lookup of a page, for the page's
// "How this page was built" table.
type upstreamCall struct {
	Service  string
	Request  string // "GET http://details:9080/details/0"
	OK       bool
	Answer   string // "200 OK"
	Attempts int
}

// answerTexts are "<code> <reason>" for every status, so a page does not
// format them per request.
var answerTexts = func() (t [600]string) {
	for code := range t {
		t[code] = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	return t
}()

func answerText(status int) string {
	if status >= 0 && status < len(answerTexts) {
		return answerTexts[status]
	}
	return strconv.Itoa(status)
}

// detailsView is the details table: each field as Python would print it, ""
// when details did not send it.
type detailsView struct {
	Author, Year, Type, Pages, Publisher, Language, ISBN10, ISBN13 string
}

type reviewView struct {
	Text, Reviewer string
	Color          string
	StarsHTML      template.HTML // the drawn stars; "" for none
	Score          int
	RatingError    string
}

var pagePool = sync.Pool{New: func() any { return new(pageData) }}

// detailFields maps a details key to its place in the table.
var detailFields = map[string]func(*detailsView) *string{
	"author":    func(d *detailsView) *string { return &d.Author },
	"year":      func(d *detailsView) *string { return &d.Year },
	"type":      func(d *detailsView) *string { return &d.Type },
	"pages":     func(d *detailsView) *string { return &d.Pages },
	"publisher": func(d *detailsView) *string { return &d.Publisher },
	"language":  func(d *detailsView) *string { return &d.Language },
	"ISBN-10":   func(d *detailsView) *string { return &d.ISBN10 },
	"ISBN-13":   func(d *detailsView) *string { return &d.ISBN13 },
}

// starsHTML[n] is the markup of n full and 5-n empty stars, rendered once
// from the template's "stars" block: the page picks one instead of looping,
// since the stars' color is set once on their container.
var starsHTML = func() (out [6]template.HTML) {
	for n := range out {
		row := make([]bool, 5)
		for i := range n {
			row[i] = true
		}
		var b strings.Builder
		if err := pageTemplate.ExecuteTemplate(&b, "stars", row); err != nil {
			panic("bookinfo: the stars template does not render: " + err.Error())
		}
		out[n] = template.HTML(b.String())
	}
	return out
}()

// fill sets the page from productpage's upstream answers. details and reviews
// are Missing when their call failed.
func (p *pageData) fill(user string, details, reviews jsontree.Value, calls ...upstreamCall) {
	*p = pageData{User: user, Title: productTitle, Description: template.HTML(productDesc)}
	p.Calls = append(p.callsArr[:0], calls...)
	if details.Kind() == jsontree.Object {
		p.DetailsOK = true
		for c := details.First(); c.Exists(); c = c.Next() {
			if field, ok := detailFields[c.Key()]; ok {
				if dst := field(&p.Details); *dst == "" { // the first of duplicate keys, like Get
					*dst = pythonStr(c)
				}
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
				view.StarsHTML, view.Score = starsHTML[score], score
				view.Color = pythonStr(rating.Get("color"))
			}
		}
		if view.StarsHTML == "" {
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
