package bookinfo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const (
	reviewsBodyV3  = `{"id": "0","podname": "reviews-v3","clustername": "null","reviews": [{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!", "rating": {"stars": 5, "color": "red"}},{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.", "rating": {"stars": 4, "color": "red"}}]}`
	detailsPython0 = `{"id": 0, "author": "William Shakespeare", "year": 1595, "type": "paperback", "pages": 200, "publisher": "PublisherA", "language": "English", "ISBN-10": "1234567890", "ISBN-13": "123-1234567890"}`
)

// types maps a JSON document to the type of every field, by path, so a test
// can state "id is a string" independently of the values.
func types(t *testing.T, body string) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			out[path] = "object"
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			out[path] = "array"
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			out[path] = "string"
		case float64:
			out[path] = "number"
		case bool:
			out[path] = "bool"
		case nil:
			out[path] = "null"
		}
	}
	walk("", v)
	return out
}

// TestContract checks every endpoint of bookinfo.md over real loopback HTTP:
// status, content type, the exact bytes where the original's are known, and
// every field's JSON type.
func TestContract(t *testing.T) {
	v3 := startApp(t, "v3", Config{})
	v1 := startApp(t, "v1", Config{})
	ratingsTypes := map[string]string{"": "object", ".id": "number", ".ratings": "object", ".ratings.Reviewer1": "number", ".ratings.Reviewer2": "number"}
	detailsTypes := map[string]string{"": "object", ".id": "number", ".author": "string", ".year": "number", ".type": "string",
		".pages": "number", ".publisher": "string", ".language": "string", ".ISBN-10": "string", ".ISBN-13": "string"}
	reviewsV3Types := map[string]string{"": "object", ".id": "string", ".podname": "string", ".clustername": "string", ".reviews": "array",
		".reviews[0]": "object", ".reviews[0].reviewer": "string", ".reviews[0].text": "string", ".reviews[0].rating": "object",
		".reviews[0].rating.stars": "number", ".reviews[0].rating.color": "string",
		".reviews[1]": "object", ".reviews[1].reviewer": "string", ".reviews[1].text": "string", ".reviews[1].rating": "object",
		".reviews[1].rating.stars": "number", ".reviews[1].rating.color": "string"}
	reviewsV1Types := map[string]string{"": "object", ".id": "string", ".podname": "string", ".clustername": "string", ".reviews": "array",
		".reviews[0]": "object", ".reviews[0].reviewer": "string", ".reviews[0].text": "string",
		".reviews[1]": "object", ".reviews[1].reviewer": "string", ".reviews[1].text": "string"}
	errTypes := map[string]string{"": "object", ".error": "string"}
	statusTypes := map[string]string{"": "object", ".status": "string"}

	cases := []struct {
		name     string
		srv      *server
		method   string
		path     string
		body     string
		status   int
		ctype    string
		want     string            // exact body, when set
		contains []string          // substrings, when want is not set
		types    map[string]string // JSON field types, when set
	}{
		// details
		{name: "details/0", srv: v3.details, path: "/details/0", status: 200, ctype: jsonType, want: detailsBody0, types: detailsTypes},
		{name: "details echoes id", srv: v3.details, path: "/details/42", status: 200, ctype: jsonType, want: strings.Replace(detailsBody0, `"id":0`, `"id":42`, 1)},
		{name: "details Ruby Integer hex", srv: v3.details, path: "/details/0x1F", status: 200, ctype: jsonType, contains: []string{`{"id":31,`}},
		{name: "details big id", srv: v3.details, path: "/details/123456789012345678901234567890", status: 200, ctype: jsonType, contains: []string{`{"id":123456789012345678901234567890,`}},
		{name: "details trailing slash", srv: v3.details, path: "/details/7/", status: 200, ctype: jsonType, contains: []string{`{"id":7,`}},
		{name: "details non-numeric", srv: v3.details, path: "/details/abc", status: 400, ctype: jsonType, want: `{"error":"please provide numeric product id"}`, types: errTypes},
		{name: "details no id", srv: v3.details, path: "/details", status: 400, ctype: jsonType, want: `{"error":"please provide numeric product id"}`},
		{name: "details health", srv: v3.details, path: "/health", status: 200, ctype: jsonType, want: `{"status":"Details is healthy"}`, types: statusTypes},
		{name: "details unknown path", srv: v3.details, path: "/nope", status: 404, ctype: htmlType},
		{name: "details bad method", srv: v3.details, method: "DELETE", path: "/details/0", status: 405, ctype: htmlType},

		// ratings
		{name: "ratings/0", srv: v3.ratings, path: "/ratings/0", status: 200, ctype: jsonType, want: `{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`, types: ratingsTypes},
		{name: "ratings parseInt prefix", srv: v3.ratings, path: "/ratings/12abc", status: 200, ctype: jsonType, want: `{"id":12,"ratings":{"Reviewer1":5,"Reviewer2":4}}`},
		{name: "ratings id with query", srv: v3.ratings, path: "/ratings/3?x=1", status: 200, ctype: jsonType, want: `{"id":3,"ratings":{"Reviewer1":5,"Reviewer2":4}}`},
		{name: "ratings non-numeric", srv: v3.ratings, path: "/ratings/abc", status: 400, ctype: jsonType, want: `{"error":"please provide numeric product ID"}`, types: errTypes},
		{name: "ratings bad JSON POST", srv: v3.ratings, method: "POST", path: "/ratings/5", body: `{"Reviewer1":`, status: 400, ctype: jsonType, want: `{"error":"please provide valid ratings JSON"}`},
		{name: "ratings POST non-numeric", srv: v3.ratings, method: "POST", path: "/ratings/x", body: `{}`, status: 400, ctype: jsonType, want: `{"error":"please provide numeric product ID"}`},
		{name: "ratings health", srv: v3.ratings, path: "/health", status: 200, ctype: jsonType, want: `{"status":"Ratings is healthy"}`, types: statusTypes},
		{name: "ratings unknown path", srv: v3.ratings, path: "/nope", status: 404},

		// reviews
		{name: "reviews v3", srv: v3.reviews, path: "/reviews/0", status: 200, ctype: jsonType, want: reviewsBodyV3, types: reviewsV3Types},
		{name: "reviews v1", srv: v1.reviews, path: "/reviews/0", status: 200, ctype: jsonType,
			want: strings.Replace(reviewsBodyV1, `"podname": "null"`, `"podname": "reviews-v1"`, 1), types: reviewsV1Types},
		{name: "reviews id normalised", srv: v1.reviews, path: "/reviews/+007", status: 200, ctype: jsonType, contains: []string{`{"id": "7",`}},
		{name: "reviews non-int", srv: v1.reviews, path: "/reviews/abc", status: 404},
		{name: "reviews int overflow", srv: v1.reviews, path: "/reviews/2147483648", status: 404},
		{name: "reviews health", srv: v3.reviews, path: "/health", status: 200, ctype: jsonType, want: `{"status": "Reviews is healthy"}`, types: statusTypes},
		{name: "reviews bad method", srv: v3.reviews, method: "POST", path: "/reviews/0", status: 405},

		// productpage
		{name: "productpage health", srv: v3.productpage, path: "/health", status: 200, ctype: htmlType, want: "Product page is healthy"},
		{name: "products", srv: v3.productpage, path: "/api/v1/products", status: 200, ctype: jsonType, want: productsJSON,
			types: map[string]string{"": "array", "[0]": "object", "[0].id": "number", "[0].title": "string", "[0].descriptionHtml": "string"}},
		{name: "product details", srv: v3.productpage, path: "/api/v1/products/0", status: 200, ctype: jsonType, want: detailsPython0, types: detailsTypes},
		{name: "product reviews", srv: v3.productpage, path: "/api/v1/products/0/reviews", status: 200, ctype: jsonType,
			want:  `{"id": "0", "podname": "reviews-v3", "clustername": "null", "reviews": [{"reviewer": "Reviewer1", "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!", "rating": {"stars": 5, "color": "red"}}, {"reviewer": "Reviewer2", "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.", "rating": {"stars": 4, "color": "red"}}]}`,
			types: reviewsV3Types},
		{name: "product ratings", srv: v3.productpage, path: "/api/v1/products/0/ratings", status: 200, ctype: jsonType,
			want: `{"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}`, types: ratingsTypes},
		{name: "product details upstream 400", srv: v3.productpage, path: "/api/v1/products/abc", status: 400, ctype: jsonType,
			want: `{"error": "Sorry, product details are currently unavailable for this book."}`, types: errTypes},
		{name: "product reviews upstream 404", srv: v3.productpage, path: "/api/v1/products/abc/reviews", status: 404, ctype: jsonType,
			want: `{"error": "Sorry, product reviews are currently unavailable for this book."}`},
		{name: "product ratings upstream 400", srv: v3.productpage, path: "/api/v1/products/abc/ratings", status: 400, ctype: jsonType,
			want: `{"error": "Sorry, product ratings are currently unavailable for this book."}`},
		{name: "product unknown sub-resource", srv: v3.productpage, path: "/api/v1/products/0/nope", status: 404, ctype: htmlType},
		{name: "product empty id", srv: v3.productpage, path: "/api/v1/products/", status: 404},
		{name: "product trailing slash", srv: v3.productpage, path: "/api/v1/products/0/", status: 404},
		{name: "page v3", srv: v3.productpage, path: "/productpage", status: 200, ctype: htmlType,
			contains: []string{"<title>Simple Bookstore App</title>", "The Comedy of Errors", "Book Details", "PublisherA", "123-1234567890",
				"Book Reviews", "Reviewer1", "Reviewer2", `style="color: red"`, "5/5", "4/5", "Reviews served by: reviews-v3"}},
		{name: "page v1", srv: v1.productpage, path: "/productpage", status: 200, ctype: htmlType,
			contains: []string{"Book Details", "Book Reviews", "Reviewer1", "Reviewer2", "Reviews served by: reviews-v1"}},
		{name: "index", srv: v3.productpage, path: "/", status: 200, ctype: htmlType, contains: []string{`href="productpage"`}},
		{name: "login needs POST", srv: v3.productpage, path: "/login", status: 405, ctype: htmlType},
		{name: "page refuses POST", srv: v3.productpage, method: "POST", path: "/productpage", status: 405},
		{name: "options", srv: v3.productpage, method: "OPTIONS", path: "/productpage", status: 200},
		{name: "metrics", srv: v3.productpage, path: "/metrics", status: 200, ctype: "text/plain; version=0.0.4; charset=utf-8",
			contains: []string{"# TYPE request_result_total counter\n"}},
		{name: "productpage unknown path", srv: v3.productpage, path: "/productpage/", status: 404, ctype: htmlType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = "GET"
			}
			status, h, body := get(t, nil, method, c.srv.url(c.path), strings.NewReader(c.body))
			if status != c.status {
				t.Fatalf("%s %s: status %d, want %d\n%s", method, c.path, status, c.status, body)
			}
			if c.ctype != "" && h.Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), c.ctype)
			}
			if c.want != "" && body != c.want {
				t.Errorf("body\n got %s\nwant %s", body, c.want)
			}
			for _, s := range c.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			if c.types != nil {
				if got := types(t, body); !reflect.DeepEqual(got, c.types) {
					t.Errorf("field types\n got %v\nwant %v", got, c.types)
				}
			}
			if strings.Contains(h.Get("Content-Type"), "json") && status < 500 && !json.Valid([]byte(body)) {
				t.Errorf("JSON content type but invalid JSON: %s", body)
			}
		})
	}
}

// TestRatingsPostStoresAndServes: a POSTed rating comes back from GET, in
// JSON.stringify's form.
func TestRatingsPostStoresAndServes(t *testing.T) {
	rt := startService(t, Config{Service: "ratings", Getenv: envOf()})
	status, _, body := get(t, nil, "POST", rt.url("/ratings/9"), strings.NewReader(`{ "Reviewer1" : 1.50, "Reviewer2": 2e0 }`))
	want := `{"id":9,"ratings":{"Reviewer1":1.5,"Reviewer2":2}}`
	if status != 200 || body != want {
		t.Fatalf("POST = %d %s, want 200 %s", status, body, want)
	}
	if status, _, body := get(t, nil, "GET", rt.url("/ratings/9"), nil); status != 200 || body != want {
		t.Fatalf("GET after POST = %d %s, want 200 %s", status, body, want)
	}
	if _, _, body := get(t, nil, "GET", rt.url("/ratings/8"), nil); body != `{"id":8,"ratings":{"Reviewer1":5,"Reviewer2":4}}` {
		t.Fatalf("another product changed: %s", body)
	}
	big := strings.Repeat(" ", maxRatingsBody+1)
	if status, _, _ := get(t, nil, "POST", rt.url("/ratings/9"), strings.NewReader(big)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized POST = %d, want 413", status)
	}
}
