package bookinfo

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

// productpage is the front end, like the original Python (Flask) service: the
// HTML /productpage, the /api/v1/products JSON API, sign-in, /metrics and
// /health. For each page it calls details and then reviews, one after the
// other, each over a new TCP connection unless pooling is enabled.
type productpage struct {
	details, reviews, ratings string // upstream host:port
	client                    *upstreamClient
	timeout                   time.Duration
	attempts                  int
	sessions                  sessionCodec
	results                   *resultCounter
	trees                     sync.Pool
	index                     string
	// The page's requests as its "How this page was built" table shows them.
	detailsRequest, reviewsRequest string
}

// The error bodies productpage's API answers with when an upstream fails, in
// json.dumps spacing.
const (
	errDetailsJSON = `{"error": "Sorry, product details are currently unavailable for this book."}`
	errReviewsJSON = `{"error": "Sorry, product reviews are currently unavailable for this book."}`
	errRatingsJSON = `{"error": "Sorry, product ratings are currently unavailable for this book."}`
)

func newProductpage(cfg Config, env envReader) (*productpage, error) {
	p := &productpage{timeout: cfg.UpstreamTimeout, attempts: cfg.ReviewsAttempts}
	var err error
	for _, u := range []struct {
		name string
		dst  *string
	}{{"details", &p.details}, {"reviews", &p.reviews}, {"ratings", &p.ratings}} {
		if *u.dst, err = env.upstreamAddr(u.name); err != nil {
			return nil, err
		}
	}
	if p.timeout == 0 {
		p.timeout = 3 * time.Second
	}
	if p.attempts == 0 {
		p.attempts = 2
	}
	if p.timeout < 0 || p.attempts < 0 {
		return nil, fmt.Errorf("bookinfo: negative UpstreamTimeout (%v) or ReviewsAttempts (%d)", p.timeout, p.attempts)
	}
	if p.sessions, err = newSessionCodec(cfg.SessionKey); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	p.results = &resultCounter{now: now}
	p.client = newUpstreamClient(dialerOf(cfg), cfg.PoolUpstreams)
	p.trees.New = func() any { return new(jsontree.Tree) }
	p.index = indexPage(p)
	p.detailsRequest = "GET http://" + p.details + detailsPath
	p.reviewsRequest = "GET http://" + p.reviews + reviewsPath
	return p, nil
}

// Close releases pooled upstream connections (PoolUpstreams).
func (p *productpage) Close() error {
	p.client.close()
	return nil
}

// ServeHTTP routes productpage's pages, API, sign-in, metrics and health.
func (p *productpage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch path {
	case "/productpage":
		if flaskMethods(w, r, "GET") {
			p.servePage(w, r)
		}
	case "/health":
		if flaskMethods(w, r, "GET") {
			writeBody(w, http.StatusOK, htmlType, "Product page is healthy")
		}
	case "/", "/index.html":
		if flaskMethods(w, r, "GET") {
			writeBody(w, http.StatusOK, htmlType, p.index)
		}
	case "/login":
		if flaskMethods(w, r, "POST") {
			p.login(w, r)
		}
	case "/logout":
		if flaskMethods(w, r, "GET") {
			p.logout(w, r)
		}
	case "/metrics":
		if flaskMethods(w, r, "GET") {
			b := p.results.appendText(nil)
			writeBytes(w, http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", b)
		}
	case "/api/v1/products":
		if flaskMethods(w, r, "GET") {
			writeBody(w, http.StatusOK, jsonType, productsJSON)
		}
	default:
		id, what, ok := parseProductPath(path)
		if !ok {
			flaskNotFound(w)
			return
		}
		if flaskMethods(w, r, "GET") {
			p.serveAPI(w, r, id, what)
		}
	}
}

// parseProductPath splits /api/v1/products/<id>[/reviews|/ratings] (the path
// already unescaped). what is "details", "reviews" or "ratings".
func parseProductPath(path string) (id, what string, ok bool) {
	rest, found := strings.CutPrefix(path, "/api/v1/products/")
	if !found {
		return "", "", false
	}
	id, what, sub := strings.Cut(rest, "/")
	if id == "" {
		return "", "", false
	}
	switch {
	case !sub:
		what = "details"
	case what == "reviews" || what == "ratings":
	default:
		return "", "", false
	}
	return id, what, true
}

// forwardHeaders builds the header lines of productpage's upstream calls:
// Accept as Python requests sends it, valid B3 context, end-user for a
// signed-in user, then the propagated list.
func (p *productpage) forwardHeaders(dst []kv, r *http.Request, user string) []kv {
	in := readHeaders(r.Header)
	dst = append(dst, kv{"Accept", "*/*"})
	if c, ok := parseB3(in); ok {
		dst = c.appendTo(dst)
	}
	if user != "" {
		dst = append(dst, kv{"end-user", user})
	}
	return in.appendPropagated(dst, productpagePropagated)
}

// user is the signed-in user of r's session cookie, or "".
func (p *productpage) user(r *http.Request) string {
	if len(r.Header["Cookie"]) == 0 {
		return ""
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	u, err := p.sessions.decode(c.Value)
	if err != nil {
		return ""
	}
	return u
}

// fetched is the outcome of one upstream lookup.
type fetched struct {
	status int            // what productpage reports: the last answer's status, 500 if there was none
	body   jsontree.Value // the parsed answer; Missing unless status is 200
	tries  int
	answer string // the outcome in words, for the page's calls table
}

// fetch calls one upstream up to attempts times until it answers 200 with
// JSON, and counts the result.
func (p *productpage) fetch(ctx context.Context, app int, addr, path string, hdr []kv, attempts int, tr *jsontree.Tree, body *bytes.Buffer) fetched {
	var f fetched
	for range attempts {
		f.tries++
		body.Reset()
		status, err := p.client.get(ctx, addr, path, hdr, p.timeout, body)
		switch {
		case err != nil:
			f.status, f.answer = 0, "no answer (counted as 500)"
			continue
		case status != http.StatusOK:
			f.status, f.answer = status, answerText(status)
			continue
		case tr.Parse(body.String()) != nil: // the original fails to decode it
			f.status, f.answer = 0, "200 without JSON (counted as 500)"
			continue
		}
		f.status, f.answer, f.body = status, answerText(status), tr.Root()
		break
	}
	if f.status == 0 {
		f.status = http.StatusInternalServerError
	}
	p.results.inc(app, f.status)
	return f
}

// The page always shows product 0, as the original does.
const (
	detailsPath = "/details/0"
	reviewsPath = "/reviews/0"
)

func (p *productpage) servePage(w http.ResponseWriter, r *http.Request) {
	user := p.user(r)
	var hb [24]kv
	hdr := p.forwardHeaders(hb[:0], r, user)

	dtree := p.trees.Get().(*jsontree.Tree)
	rtree := p.trees.Get().(*jsontree.Tree)
	dbody, rbody := getBuffer(), getBuffer()
	defer func() {
		dtree.Reset()
		rtree.Reset()
		p.trees.Put(dtree)
		p.trees.Put(rtree)
		putBuffer(dbody)
		putBuffer(rbody)
	}()
	details := p.fetch(r.Context(), appDetails, p.details, detailsPath, hdr, 1, dtree, dbody)
	reviews := p.fetch(r.Context(), appReviews, p.reviews, reviewsPath, hdr, p.attempts, rtree, rbody)

	data := pagePool.Get().(*pageData)
	data.fill(user, details.body, reviews.body,
		upstreamCall{Service: "details", Request: p.detailsRequest, OK: details.status == 200, Answer: details.answer, Attempts: details.tries},
		upstreamCall{Service: "reviews", Request: p.reviewsRequest, OK: reviews.status == 200, Answer: reviews.answer, Attempts: reviews.tries})
	out := getBuffer()
	err := pageTemplate.Execute(out, data)
	*data = pageData{}
	pagePool.Put(data)
	if err != nil {
		putBuffer(out)
		writeBody(w, http.StatusInternalServerError, textType, "productpage: rendering the page failed: "+err.Error()+"\n")
		return
	}
	writeBytes(w, http.StatusOK, htmlType, out.Bytes())
	putBuffer(out)
}

func (p *productpage) serveAPI(w http.ResponseWriter, r *http.Request, id, what string) {
	var hb [24]kv
	hdr := p.forwardHeaders(hb[:0], r, p.user(r))
	var app, attempts int
	var addr, path, failure string
	switch what {
	case "details":
		app, attempts, addr, path, failure = appDetails, 1, p.details, "/details/"+url.PathEscape(id), errDetailsJSON
	case "reviews":
		app, attempts, addr, path, failure = appReviews, p.attempts, p.reviews, "/reviews/"+url.PathEscape(id), errReviewsJSON
	default:
		app, attempts, addr, path, failure = appRatings, 1, p.ratings, "/ratings/"+url.PathEscape(id), errRatingsJSON
	}
	tr := p.trees.Get().(*jsontree.Tree)
	body := getBuffer()
	defer func() {
		tr.Reset()
		p.trees.Put(tr)
		putBuffer(body)
	}()
	f := p.fetch(r.Context(), app, addr, path, hdr, attempts, tr, body)
	if f.status != http.StatusOK {
		writeBody(w, f.status, jsonType, failure)
		return
	}
	// The original decodes the upstream JSON and prints it again.
	bp := bodyPool.Get().(*[]byte)
	b := jsontree.AppendPython((*bp)[:0], f.body)
	writeBytes(w, http.StatusOK, jsonType, b)
	*bp = b
	bodyPool.Put(bp)
}

// login signs the user in (form or query field "username") and sends the
// browser back where it came from.
func (p *productpage) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeBody(w, http.StatusBadRequest, textType, "login: cannot read the form: "+err.Error()+"\n")
		return
	}
	user := r.Form.Get("username")
	if err := checkUser(user); err != nil {
		writeBody(w, http.StatusBadRequest, textType, "login: username: "+err.Error()+"\n")
		return
	}
	if user == "" {
		clearSession(w)
	} else {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: p.sessions.encode(user), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	redirectBack(w, r)
}

func (p *productpage) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w)
	redirectBack(w, r)
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// redirectBack answers 302 to the Referer, as the original does; without one
// (where the original fails) it goes to /productpage.
func redirectBack(w http.ResponseWriter, r *http.Request) {
	to := r.Header.Get("Referer")
	if to == "" || !validHeaderValue(to) {
		to = "/productpage"
	}
	w.Header().Set("Location", to)
	body := "<!doctype html>\n<title>Redirecting</title>\n<p>Redirecting to <a href=\"" + htmlEscaper.Replace(to) + "\">" + htmlEscaper.Replace(to) + "</a>.</p>\n"
	writeBody(w, http.StatusFound, htmlType, body)
}

// flaskMethods admits the route's method plus HEAD (for GET) and OPTIONS,
// which Flask answers for every route; anything else gets 405.
func flaskMethods(w http.ResponseWriter, r *http.Request, method string) bool {
	allow := method + ", OPTIONS"
	if method == http.MethodGet {
		allow = "GET, HEAD, OPTIONS"
	}
	switch {
	case r.Method == method, method == http.MethodGet && r.Method == http.MethodHead:
		return true
	case r.Method == http.MethodOptions:
		w.Header().Set("Allow", allow)
		writeBody(w, http.StatusOK, htmlType, "")
		return false
	}
	w.Header().Set("Allow", allow)
	writeBody(w, http.StatusMethodNotAllowed, htmlType,
		"<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>This address does not take "+htmlEscaper.Replace(r.Method)+" requests.</p>\n")
	return false
}

func flaskNotFound(w http.ResponseWriter) {
	writeBody(w, http.StatusNotFound, htmlType,
		"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>Nothing is served at this address.</p>\n")
}

// indexPage is the landing page at /: links to the product page as a
// guest and as the test user, and the upstreams this productpage calls.
func indexPage(p *productpage) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Simple Bookstore App</title>
<style>body{font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#1f2933}table{border-collapse:collapse}td,th{border:1px solid #d9dee5;padding:.3rem .7rem;text-align:left}</style>
</head>
<body>
<h1>Hello! This is a simple bookstore application consisting of four services</h1>
<p><a href="productpage">Open the product page</a>, or sign in there as <code>jason</code> to be routed as the test user.</p>
<table>
<tr><th>service</th><th>called at</th></tr>
`)
	for _, u := range [][2]string{{"details", p.details}, {"reviews", p.reviews}, {"ratings", p.ratings}} {
		b.WriteString("<tr><td>" + u[0] + "</td><td>http://" + htmlEscaper.Replace(u[1]) + "/" + u[0] + "</td></tr>\n")
	}
	b.WriteString("</table>\n<p>The reviews service calls ratings itself; productpage calls ratings only for /api/v1/products/&lt;id&gt;/ratings.</p>\n</body>\n</html>\n")
	return b.String()
}
