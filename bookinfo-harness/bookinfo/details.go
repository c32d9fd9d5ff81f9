package bookinfo

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// details serves the book's details, like the original Ruby (WEBrick) service:
// /details/<id> echoes any integer id Ruby's Integer() accepts, and /health.
// The original's optional Google Books backend (ENABLE_EXTERNAL_BOOK_SERVICE)
// needs the internet and is not implemented; without it the original makes no
// upstream call, so it has no headers to propagate.
type details struct{}

func newDetails() *details { return &details{} }

const (
	detailsHealth = `{"status":"Details is healthy"}`
	detailsBadID  = `{"error":"please provide numeric product id"}`
	detailsTail   = `,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}`
)

// bodyPool recycles response buffers of the JSON services.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// ServeHTTP answers /details/<id> and /health.
func (d *details) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case mounted(path, "/health"):
		if !webrickMethod(w, r) {
			return
		}
		writeBody(w, http.StatusOK, jsonType, detailsHealth)
	case mounted(path, "/details"):
		if !webrickMethod(w, r) {
			return
		}
		id, ok := rubyInteger(lastRubySegment(path))
		if !ok {
			writeBody(w, http.StatusBadRequest, jsonType, detailsBadID)
			return
		}
		writeJoined(w, http.StatusOK, jsonType, `{"id":`, id, detailsTail)
	default:
		writeBody(w, http.StatusNotFound, htmlType,
			"<!DOCTYPE html>\n<html><head><title>Not Found</title></head><body><h1>Not Found</h1><p>`"+
				htmlEscaper.Replace(path)+"' was not found on this server.</p></body></html>\n")
	}
}

// mounted reports whether path is under a WEBrick mount point: the point
// itself or anything below it.
func mounted(path, point string) bool {
	return path == point || (strings.HasPrefix(path, point) && path[len(point)] == '/')
}

// lastRubySegment is Ruby's path.split('/')[-1]: the last segment once
// trailing empty segments are dropped.
func lastRubySegment(path string) string {
	path = strings.TrimRight(path, "/")
	return path[strings.LastIndexByte(path, '/')+1:]
}

// webrickMethod admits the methods a WEBrick proc mount answers.
func webrickMethod(w http.ResponseWriter, r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return true
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	writeBody(w, http.StatusMethodNotAllowed, htmlType, "<!DOCTYPE html>\n<html><body><h1>Method Not Allowed</h1><p>unsupported method `"+htmlEscaper.Replace(r.Method)+"'.</p></body></html>\n")
	return false
}

const (
	jsonType = "application/json"
	htmlType = "text/html; charset=utf-8"
	textType = "text/plain; charset=utf-8"
)

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

// Content-Type values are shared, never modified, slices so setting one
// does not allocate.
var ctypeValues = map[string][]string{jsonType: {jsonType}, htmlType: {htmlType}, textType: {textType}}

func setHead(w http.ResponseWriter, ctype string, n int) {
	h := w.Header()
	if v, ok := ctypeValues[ctype]; ok {
		h["Content-Type"] = v
	} else {
		h["Content-Type"] = []string{ctype}
	}
	h["Content-Length"] = []string{strconv.Itoa(n)}
}

// writeBody and writeBytes send a complete response with its length, so the
// connection can be kept alive without chunked encoding.
func writeBody(w http.ResponseWriter, status int, ctype, body string) {
	setHead(w, ctype, len(body))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeBytes(w http.ResponseWriter, status int, ctype string, body []byte) {
	setHead(w, ctype, len(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeJoined sends the concatenation of parts as one body, built in a pooled
// buffer.
func writeJoined(w http.ResponseWriter, status int, ctype string, parts ...string) {
	bp := bodyPool.Get().(*[]byte)
	b := (*bp)[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	writeBytes(w, status, ctype, b)
	*bp = b
	bodyPool.Put(bp)
}
