package bookinfo

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

// reviews serves two reviews of the book, like the original Java (Liberty)
// service. v1 has no ratings; v2 and v3 ask ratings for stars and print them
// black and red. The JSON bytes are the original's, spacing included, with
// "id" a string.
type reviews struct {
	ratingsEnabled bool
	starColor      string
	ratingsAddr    string
	timeout        time.Duration
	client         *upstreamClient
	head           string // `","podname": "…","clustername": "…","reviews": [`
	trees          sync.Pool
}

// reviewsVersions are the versions and the environment their images set
// (ENABLE_RATINGS, STAR_COLOR); the variables, when set, still win.
var reviewsVersions = map[string]struct {
	ratings bool
	color   string
}{"v1": {false, "black"}, "v2": {true, "black"}, "v3": {true, "red"}}

const (
	reviewsHealth     = `{"status": "Reviews is healthy"}`
	review1           = `{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"`
	review2           = `{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."`
	ratingUnavailable = `, "rating": {"error": "Ratings service is currently unavailable"}`
)

func newReviews(cfg Config, env envReader) (*reviews, error) {
	version := cfg.Version
	if version == "" {
		version = env.str("SERVICE_VERSION", "")
	}
	def, ok := reviewsVersions[version]
	if !ok {
		return nil, fmt.Errorf("bookinfo: reviews version %q; want v1, v2 or v3", version)
	}
	rv := &reviews{ratingsEnabled: def.ratings, starColor: def.color}
	if v := env.str("ENABLE_RATINGS", ""); v != "" {
		rv.ratingsEnabled = strings.EqualFold(v, "true") // Java's Boolean.valueOf
	}
	rv.starColor = env.str("STAR_COLOR", rv.starColor)
	if !validHeaderValue(rv.starColor) {
		return nil, fmt.Errorf("bookinfo: STAR_COLOR=%q contains a control character", rv.starColor)
	}
	addr, err := env.upstreamAddr("ratings")
	if err != nil {
		return nil, err
	}
	rv.ratingsAddr = addr
	rv.timeout = cfg.RatingsTimeout
	if rv.timeout == 0 {
		rv.timeout = 2500 * time.Millisecond
		if rv.starColor == "black" {
			rv.timeout = 10 * time.Second
		}
	}
	// Java prints a missing HOSTNAME or CLUSTER_NAME as "null".
	var h []byte
	h = append(h, `","podname": `...)
	h = jsontree.AppendString(h, env.str("HOSTNAME", "null"))
	h = append(h, `,"clustername": `...)
	h = jsontree.AppendString(h, env.str("CLUSTER_NAME", "null"))
	h = append(h, `,"reviews": [`...)
	rv.head = string(h)
	rv.client = newUpstreamClient(dialerOf(cfg), true) // the Java client keeps connections alive
	rv.trees.New = func() any { return new(jsontree.Tree) }
	return rv, nil
}

// Close releases the pooled connections to ratings.
func (rv *reviews) Close() error {
	rv.client.close()
	return nil
}

// ServeHTTP answers /reviews/<id> and /health.
func (rv *reviews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	var idText string
	switch {
	case path == "/health":
		if getOnly(w, r, textType) {
			writeBody(w, http.StatusOK, jsonType, reviewsHealth)
		}
		return
	case strings.HasPrefix(path, "/reviews/") && strings.IndexByte(path[len("/reviews/"):], '/') < 0:
		idText = path[len("/reviews/"):]
	default:
		writeBody(w, http.StatusNotFound, textType, "Error 404: no resource at "+path+"\n")
		return
	}
	if !getOnly(w, r, textType) {
		return
	}
	id, ok := javaInt(idText)
	if !ok {
		// JAX-RS answers a path parameter it cannot convert with 404.
		writeBody(w, http.StatusNotFound, textType, "Error 404: product id "+strconv.Quote(idText)+" is not an int\n")
		return
	}
	stars1, stars2 := -1, -1
	if rv.ratingsEnabled {
		stars1, stars2 = rv.fetchRatings(r, id)
	}
	bp := bodyPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"id": "`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, rv.head...)
	b = append(b, review1...)
	b = rv.appendRating(b, stars1)
	b = append(b, "},"...)
	b = append(b, review2...)
	b = rv.appendRating(b, stars2)
	b = append(b, "}]}"...)
	writeBytes(w, http.StatusOK, jsonType, b)
	*bp = b
	bodyPool.Put(bp)
}

func (rv *reviews) appendRating(b []byte, stars int) []byte {
	if !rv.ratingsEnabled {
		return b
	}
	if stars == -1 {
		return append(b, ratingUnavailable...)
	}
	b = append(b, `, "rating": {"stars": `...)
	b = strconv.AppendInt(b, int64(stars), 10)
	b = append(b, `, "color": `...)
	b = jsontree.AppendString(b, rv.starColor)
	return append(b, '}')
}

// fetchRatings asks ratings for the product's stars; -1 marks a reviewer
// without stars (ratings failed, or had none for them), as in the original.
func (rv *reviews) fetchRatings(r *http.Request, id int32) (int, int) {
	var hb [24]kv
	hdr := append(hb[:0], kv{"Accept", "application/json"})
	hdr = readHeaders(r.Header).appendPropagated(hdr, reviewsPropagated)
	var pb [32]byte
	path := strconv.AppendInt(append(pb[:0], "/ratings/"...), int64(id), 10)

	body := getBuffer()
	defer putBuffer(body)
	status, err := rv.client.get(r.Context(), rv.ratingsAddr, string(path), hdr, rv.timeout, body)
	if err != nil || status != http.StatusOK {
		return -1, -1
	}
	tr := rv.trees.Get().(*jsontree.Tree)
	defer func() { tr.Reset(); rv.trees.Put(tr) }()
	return starsFrom(tr, body.String())
}

// starsFrom reads Reviewer1's and Reviewer2's stars from a ratings answer
// ({"ratings": {"Reviewer1": 5, ...}}); -1 for a reviewer it has none for.
func starsFrom(tr *jsontree.Tree, body string) (int, int) {
	if tr.Parse(body) != nil {
		return -1, -1
	}
	ratings := tr.Root().Get("ratings")
	return javaGetInt(ratings.Get("Reviewer1")), javaGetInt(ratings.Get("Reviewer2"))
}

// javaGetInt is JsonObject.getInt of a rating: a number's integer part.
// Anything else, which would make the original fail with a 500, counts as no
// rating.
func javaGetInt(v jsontree.Value) int {
	if v.Kind() != jsontree.Number {
		return -1
	}
	f, err := strconv.ParseFloat(v.Text(), 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return -1
	}
	return int(f) // truncates toward zero, as intValue does
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // let an unusually large buffer go
	}
	b.Reset()
	bufferPool.Put(b)
}

// getOnly admits GET and HEAD and answers anything else with 405.
func getOnly(w http.ResponseWriter, r *http.Request, ctype string) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeBody(w, http.StatusMethodNotAllowed, ctype, "Method Not Allowed\n")
	return false
}
