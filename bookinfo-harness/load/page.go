package load

import "bytes"

// Page is what a /productpage answer says about how it was built.
type Page struct {
	// Version is the reviews version that served the page's reviews ("v1",
	// "v2", ...), read from the podname after "Reviews served by:"; ""
	// when the page names none (reviews failed, or not a Bookinfo page).
	Version string
	// Degraded is true when the page reports that an upstream failed: it
	// could not fetch the details or the reviews, or the reviews could not
	// get their ratings. productpage still answers 200 then, so a status
	// check alone would count such a page as a success.
	Degraded bool
}

var (
	servedBy     = []byte("Reviews served by:")
	fetchError   = []byte("Error fetching product")
	ratingsError = []byte("Ratings service is currently unavailable")
)

// versions are the names ClassifyPage returns, so classifying allocates
// nothing.
var versions = [...]string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"}

// ClassifyPage reads a productpage answer (headers and body, or the body
// alone). It understands both nicrt's page and the original Python
// productpage's, whose podname is a Kubernetes pod name such as
// "reviews-v2-5b667bcbf8-xvj2z": the version is the first "-v<digit>" piece
// of the podname. Reviews podnames with multi-digit versions are reported as
// "".
func ClassifyPage(b []byte) Page {
	var p Page
	p.Degraded = bytes.Contains(b, fetchError) || bytes.Contains(b, ratingsError)
	i := bytes.Index(b, servedBy)
	if i < 0 {
		return p
	}
	rest := b[i+len(servedBy):]
	// Skip blanks, then take the podname: everything up to the next blank
	// or markup.
	j := 0
	for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t' || rest[j] == '\r' || rest[j] == '\n') {
		j++
	}
	k := j
	for k < len(rest) && rest[k] != ' ' && rest[k] != '\t' && rest[k] != '\r' && rest[k] != '\n' && rest[k] != '<' {
		k++
	}
	pod := rest[j:k]
	for n := 0; n+2 < len(pod); n++ {
		if pod[n] == '-' && pod[n+1] == 'v' && isDigit(pod[n+2]) && (n+3 == len(pod) || !isDigit(pod[n+3])) {
			p.Version = versions[pod[n+2]-'0']
			return p
		}
	}
	return p
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
