package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/spf13/pflag"
)

// `nicrt bookinfo serve --log-requests` writes one line per request to
// standard error with the headers that must survive every hop of a topology
// (x-request-id, end-user), so tests can see what arrived at a service. It is
// off by default: the measured path logs nothing per request.
var serveLogRequests bool

func init() {
	registerServeHook(&serveHook{
		flags: func(fs *pflag.FlagSet) {
			serveLogRequests = false
			fs.BoolVar(&serveLogRequests, "log-requests", false, "log each request (method, path, x-request-id, end-user) to standard error; for tests, not for measurements")
		},
		wrap: func(ln net.Listener, h http.Handler) (net.Listener, http.Handler, func() error, error) {
			if !serveLogRequests {
				return ln, h, nil, nil
			}
			return ln, requestLogger{h}, nil, nil
		},
	})
}

// requestLogger logs each request before handing it on.
type requestLogger struct{ next http.Handler }

func (l requestLogger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(os.Stderr, "request %s %q host=%q x-request-id=%q end-user=%q\n",
		r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Request-Id"), r.Header.Get("End-User"))
	l.next.ServeHTTP(w, r)
}
