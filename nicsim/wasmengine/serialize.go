package wasmengine

import (
	"net/http"
	"strconv"

	"github.com/nicrt/nicrt/runtime"
)

// appendRequest serializes a request after the filters: the start line from
// the pseudo-headers, Host from :authority, the other fields, and the body
// with a Content-Length (a rewritten message is always re-framed by length).
func appendRequest(b []byte, f runtime.Fields, minor int, body []byte) []byte {
	b = append(b, f.Value(":method")...)
	b = append(b, ' ')
	b = append(b, f.Value(":path")...)
	b = append(b, " HTTP/1."...)
	b = strconv.AppendInt(b, int64(minor), 10)
	b = append(b, "\r\n"...)
	if a := f.Value(":authority"); a != "" {
		b = appendField(b, "host", a)
	}
	// A request without a body keeps its framing implicit (no length).
	return appendFieldsAndBody(b, f, body, len(body) > 0)
}

// appendResponse serializes a response after the filters.
func appendResponse(b []byte, f runtime.Fields, minor int, reason string, body []byte) []byte {
	code, _ := strconv.Atoi(f.Value(":status"))
	b = appendStatusLine(b, minor, code, reason)
	return appendFieldsAndBody(b, f, body, true)
}

// appendLocal serializes a filter's local response.
func appendLocal(b []byte, lr *runtime.LocalResponse, minor int) []byte {
	b = appendStatusLine(b, minor, lr.Status, "")
	if lr.Details != "" {
		b = appendField(b, "x-nicrt-details", lr.Details)
	}
	return appendFieldsAndBody(b, lr.Headers, lr.Body, true)
}

func appendStatusLine(b []byte, minor, code int, reason string) []byte {
	if reason == "" {
		reason = http.StatusText(code)
	}
	b = append(b, "HTTP/1."...)
	b = strconv.AppendInt(b, int64(minor), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	return append(b, "\r\n"...)
}

// appendFieldsAndBody writes the regular fields, a Content-Length when
// withLength, the blank line and the body. Framing fields from the original
// are dropped: the message is re-framed by length.
func appendFieldsAndBody(b []byte, f runtime.Fields, body []byte, withLength bool) []byte {
	for _, x := range f {
		switch x.Name {
		case "host", "content-length", "transfer-encoding":
			continue // re-framed below
		}
		if len(x.Name) > 0 && x.Name[0] == ':' {
			continue
		}
		b = appendField(b, x.Name, x.Value)
	}
	if withLength {
		b = appendField(b, "content-length", strconv.Itoa(len(body)))
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}
