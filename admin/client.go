package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a data plane's admin API; nicrt load, ls and unload use it.
type Client struct {
	// Base is the API's URL, e.g. http://127.0.0.1:15000.
	Base string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client used; nil uses one with a 2-minute timeout
	// (compiling a large module can take seconds on a busy machine).
	HTTP *http.Client
}

// NewClient returns a client for addr ("host:port" or a URL).
func NewClient(addr, token string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{Base: strings.TrimRight(addr, "/"), Token: token}
}

// Error is an error answer from the admin API.
type Error struct {
	Status int
	ErrorResponse
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", e.ErrorResponse.Error, e.Status)
	if len(e.GuestLog) > 0 {
		b.WriteString("\nguest log:")
		for _, l := range e.GuestLog {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 2 * time.Minute}
}

// do sends a request and decodes a JSON answer into out (when non-nil) or
// returns the raw body.
func (c *Client) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: reading answer: %w", c.Base, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, &e.ErrorResponse) != nil || e.ErrorResponse.Error == "" {
			e.ErrorResponse.Error = strings.TrimSpace(string(b))
			if e.ErrorResponse.Error == "" {
				e.ErrorResponse.Error = resp.Status
			}
		}
		return nil, e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("admin API at %s: unexpected answer to %s %s: %v", c.Base, method, path, err)
		}
	}
	return b, nil
}

// Load uploads a module and installs it as req describes.
func (c *Client) Load(ctx context.Context, wasm []byte, req LoadRequest) (*LoadResult, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	spec, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := mw.WriteField("spec", string(spec)); err != nil {
		return nil, err
	}
	fw, err := mw.CreateFormFile("wasm", req.Name+".wasm")
	if err != nil {
		return nil, err
	}
	fw.Write(wasm)
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var res LoadResult
	if _, err := c.do(ctx, http.MethodPost, "/filters", mw.FormDataContentType(), &buf, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// List returns the data plane's chains and filters.
func (c *Client) List(ctx context.Context) (*ListResponse, error) {
	var res ListResponse
	if _, err := c.do(ctx, http.MethodGet, "/filters", "", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Unload removes a filter; chain may be empty when unambiguous.
func (c *Client) Unload(ctx context.Context, chain, name string) (*UnloadResult, error) {
	path := "/filters/" + url.PathEscape(name)
	if chain != "" {
		path += "?chain=" + url.QueryEscape(chain)
	}
	var res UnloadResult
	if _, err := c.do(ctx, http.MethodDelete, path, "", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Ready returns nil when the data plane reports itself live.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/ready", "", nil, nil)
	return err
}

// Stats returns the Prometheus text exposition.
func (c *Client) Stats(ctx context.Context) (string, error) {
	b, err := c.do(ctx, http.MethodGet, "/stats/prometheus", "", nil, nil)
	return string(b), err
}

// ConfigDump returns the data plane's configuration dump (JSON).
func (c *Client) ConfigDump(ctx context.Context) (json.RawMessage, error) {
	b, err := c.do(ctx, http.MethodGet, "/config_dump", "", nil, nil)
	return b, err
}
