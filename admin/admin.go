// Package admin is the admin API every nicrt data plane serves — the
// sidecar proxy and the simulated SmartNIC alike — so one client (nicrt
// load, ls, unload) swaps filters in either while it runs.
//
// A data plane describes itself with a Config: the runtime Host that loads
// plugins, its filter chains (each a runtime.Slot), and hooks for its own
// stats, configuration dump and readiness. The API:
//
//	GET    /filters            chains and their filters, with counters
//	POST   /filters            upload a module and its configuration: validate,
//	                           compile, start VMs, then swap it in atomically
//	DELETE /filters/NAME       remove a filter (?chain=C when ambiguous)
//	GET    /stats/prometheus   the data plane's stats, per-filter counters and
//	                           the filters' own metrics
//	GET    /ready              200 "LIVE" while serving, 503 otherwise
//	GET    /config_dump        the data plane's configuration and chains (JSON)
//
// Loading code into a running proxy is powerful, so Listen refuses a
// non-loopback address unless a token is configured, and a configured token
// is then required on every request (Authorization: Bearer). State-changing
// requests from other origins in a browser are refused as well.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/runtime"
)

// DefaultAddress is where a data plane's admin API listens by default.
const DefaultAddress = "127.0.0.1:15000"

// DefaultMaxUpload bounds an uploaded module (Go filters are a few MiB).
const DefaultMaxUpload = 64 << 20

// Chain is one filter chain of a data plane: the sidecar has one per
// listener, the NIC one per direction.
type Chain struct {
	Name string
	Slot *runtime.Slot
}

// Config wires a data plane into the admin API.
type Config struct {
	// Kind names the data plane ("sidecar", "nic") in responses.
	Kind string
	// Host loads the plugins.
	Host *runtime.Host
	// Chains are the data plane's filter chains.
	Chains []Chain
	// Stats writes the data plane's own metrics in the Prometheus text
	// format; may be nil.
	Stats func(w io.Writer) error
	// ConfigDump returns the data plane's configuration, JSON-encodable;
	// may be nil.
	ConfigDump func() any
	// Ready reports whether the data plane serves traffic; nil means always.
	Ready func() bool
	// Load loads a plugin for a chain; nil uses Host.Load. A data plane
	// that needs plugins built differently (the NIC counts instructions)
	// adjusts cfg here.
	Load func(ctx context.Context, chain string, wasm []byte, cfg runtime.PluginConfig) (*runtime.Plugin, error)
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token string
	// MaxUpload bounds an uploaded module; default DefaultMaxUpload.
	MaxUpload int64
	// Logger receives one line per change (load, unload); nil is slog.Default().
	Logger *slog.Logger
}

// Server serves the admin API for one data plane.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	mu      sync.Mutex // serializes changes to the chains
	loads   atomic.Int64
	failed  atomic.Int64

	srvMu sync.Mutex
	srv   *http.Server
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Host == nil {
		return nil, errors.New("admin: Config.Host is required")
	}
	if len(cfg.Chains) == 0 {
		return nil, errors.New("admin: the data plane has no filter chains")
	}
	seen := map[string]bool{}
	for _, c := range cfg.Chains {
		if c.Name == "" || c.Slot == nil {
			return nil, fmt.Errorf("admin: chain %q has no name or slot", c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("admin: chain %q given twice", c.Name)
		}
		seen[c.Name] = true
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Kind == "" {
		cfg.Kind = "data plane"
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /filters", s.list)
	mux.HandleFunc("POST /filters", s.load)
	mux.HandleFunc("DELETE /filters/{name}", s.unload)
	mux.HandleFunc("GET /stats/prometheus", s.stats)
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /config_dump", s.configDump)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &ErrorResponse{Error: "no such admin endpoint: " + r.Method + " " + r.URL.Path +
			" (endpoints: GET/POST /filters, DELETE /filters/NAME, GET /stats/prometheus, GET /ready, GET /config_dump)"})
	})
	s.handler = s.auth(http.NewCrossOriginProtection().Handler(mux))
	return s, nil
}

// Handler returns the API's handler (authentication included).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the admin listener, refusing a non-loopback address when no
// token is configured: the API loads code into the data plane.
func Listen(addr, token string) (net.Listener, error) {
	if err := checkAddress(addr, token); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

func checkAddress(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %v", addr, err)
	}
	if !IsLoopback(host) && token == "" {
		return fmt.Errorf("admin: refusing to listen on %s without a token: the admin API loads code into the data plane; use a loopback address (e.g. 127.0.0.1) or configure a token", addr)
	}
	return nil
}

// IsLoopback reports whether host (an IP literal or "localhost") is a
// loopback address; an empty host (every interface) is not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Serve serves the API on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	s.srvMu.Lock()
	s.srv = srv
	s.srvMu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops serving, letting requests in progress finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nicrt admin"`)
			msg := "this admin API requires a token: Authorization: Bearer <token>"
			if len(got) > 0 {
				msg = "wrong admin token"
			}
			writeError(w, http.StatusUnauthorized, &ErrorResponse{Error: msg})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// FilterInfo describes one loaded filter: how it was loaded and its
// counters since.
type FilterInfo struct {
	runtime.PluginInfo
	Stats runtime.PluginStats `json:"stats"`
}

// ChainInfo lists one chain's filters in request order.
type ChainInfo struct {
	Name    string       `json:"name"`
	Filters []FilterInfo `json:"filters"`
}

// ListResponse is the answer to GET /filters.
type ListResponse struct {
	Kind   string      `json:"kind"`
	Chains []ChainInfo `json:"chains"`
}

// LoadRequest is the "spec" part of POST /filters: the plugin's
// configuration as Envoy's wasm filter has it, and the chain to put it in.
type LoadRequest struct {
	// Chain to install into; may be empty when the data plane has one
	// chain or exactly one chain has a filter of this name.
	Chain string `json:"chain,omitempty"`
	// Name identifies the filter; a filter of the same name is replaced.
	Name          string `json:"name"`
	RootID        string `json:"root_id,omitempty"`
	VMID          string `json:"vm_id,omitempty"`
	Configuration string `json:"configuration,omitempty"`
	FailOpen      bool   `json:"fail_open,omitempty"`
	PoolSize      int    `json:"pool_size,omitempty"`
}

// LoadResult is the answer to a successful POST /filters.
type LoadResult struct {
	Chain     string      `json:"chain"`
	Installed FilterInfo  `json:"installed"`
	Replaced  *FilterInfo `json:"replaced,omitempty"`
	// CompileMS and StartMS are the plugin's compile and VM start-up
	// times; SwapUS is the atomic switch itself.
	CompileMS float64 `json:"compile_ms"`
	StartMS   float64 `json:"start_ms"`
	SwapUS    float64 `json:"swap_us"`
	// Position lists the chain's filters after the change.
	Position []string `json:"chain_filters"`
}

// UnloadResult is the answer to DELETE /filters/NAME.
type UnloadResult struct {
	Chain   string     `json:"chain"`
	Removed FilterInfo `json:"removed"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// Stage and GuestLog come from a failed load (runtime.LoadError): what
	// failed (config, module, compile, start) and what the guest logged.
	Stage    string   `json:"stage,omitempty"`
	GuestLog []string `json:"guest_log,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *ErrorResponse) { writeJSON(w, status, e) }

func filterInfo(p *runtime.Plugin) FilterInfo {
	return FilterInfo{PluginInfo: p.Info(), Stats: p.Stats()}
}

func (s *Server) chains() []ChainInfo {
	out := make([]ChainInfo, 0, len(s.cfg.Chains))
	for _, c := range s.cfg.Chains {
		ci := ChainInfo{Name: c.Name, Filters: []FilterInfo{}}
		for _, p := range c.Slot.Chain().Plugins() {
			ci.Filters = append(ci.Filters, filterInfo(p))
		}
		out = append(out, ci)
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ListResponse{Kind: s.cfg.Kind, Chains: s.chains()})
}

// pickChain resolves the chain a request means: the one named, else the
// only chain, else the only chain holding a filter of that name.
func (s *Server) pickChain(name, filter string) (*Chain, error) {
	if name != "" {
		for i := range s.cfg.Chains {
			if s.cfg.Chains[i].Name == name {
				return &s.cfg.Chains[i], nil
			}
		}
		return nil, fmt.Errorf("no chain named %q (chains: %s)", name, s.chainNames())
	}
	if len(s.cfg.Chains) == 1 {
		return &s.cfg.Chains[0], nil
	}
	var found *Chain
	for i := range s.cfg.Chains {
		if s.cfg.Chains[i].Slot.Chain().Find(filter) != nil {
			if found != nil {
				return nil, fmt.Errorf("filter %q is in several chains; choose one of %s", filter, s.chainNames())
			}
			found = &s.cfg.Chains[i]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("this %s has several chains (%s) and none has a filter named %q: choose a chain", s.cfg.Kind, s.chainNames(), filter)
	}
	return found, nil
}

func (s *Server) chainNames() string {
	n := make([]string, len(s.cfg.Chains))
	for i, c := range s.cfg.Chains {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}

func (s *Server) load(w http.ResponseWriter, r *http.Request) {
	req, wasm, status, err := s.readUpload(w, r)
	if err != nil {
		writeError(w, status, &ErrorResponse{Error: err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.pickChain(req.Chain, req.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, &ErrorResponse{Error: err.Error()})
		return
	}
	pc := runtime.PluginConfig{
		Name: req.Name, RootID: req.RootID, VMID: req.VMID,
		Configuration: []byte(req.Configuration), FailOpen: req.FailOpen, PoolSize: req.PoolSize,
	}
	loadFn := s.cfg.Load
	if loadFn == nil {
		loadFn = func(ctx context.Context, _ string, wasm []byte, cfg runtime.PluginConfig) (*runtime.Plugin, error) {
			return s.cfg.Host.Load(ctx, wasm, cfg)
		}
	}
	p, err := loadFn(r.Context(), ch.Name, wasm, pc)
	if err != nil {
		s.failed.Add(1)
		e := &ErrorResponse{Error: err.Error()}
		var le *runtime.LoadError
		status := http.StatusInternalServerError
		if errors.As(err, &le) {
			e.Error = fmt.Sprintf("load %s: %s: %v", le.Plugin, le.Stage, le.Err)
			e.Stage, e.GuestLog = le.Stage, le.GuestLog
			status = http.StatusUnprocessableEntity
		}
		s.log.Warn("admin: filter load failed; chain unchanged", "chain", ch.Name, "filter", req.Name, "err", e.Error)
		writeError(w, status, e)
		return
	}
	t0 := time.Now()
	old := ch.Slot.Install(p)
	swap := time.Since(t0)
	s.loads.Add(1)
	info := p.Info()
	res := LoadResult{
		Chain:     ch.Name,
		Installed: filterInfo(p),
		CompileMS: float64(info.CompileTime) / 1e6,
		StartMS:   float64(info.StartTime) / 1e6,
		SwapUS:    float64(swap) / 1e3,
	}
	if old != nil {
		fi := filterInfo(old)
		res.Replaced = &fi
	}
	for _, q := range ch.Slot.Chain().Plugins() {
		res.Position = append(res.Position, q.Name())
	}
	s.log.Info("admin: filter loaded", "chain", ch.Name, "filter", req.Name, "sha256", info.SHA256[:12], "replaced", old != nil,
		"compile", info.CompileTime, "start", info.StartTime, "swap", swap)
	writeJSON(w, http.StatusOK, res)
}

// readUpload parses the multipart upload: a "spec" part (LoadRequest JSON)
// and a "wasm" part (the module).
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (*LoadRequest, []byte, int, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, nil, http.StatusUnsupportedMediaType, errors.New(`POST /filters takes multipart/form-data with a "spec" part (JSON: name, chain, root_id, vm_id, configuration, fail_open, pool_size) and a "wasm" part (the module), e.g. curl -F spec='{"name":"lb"}' -F wasm=@lb.wasm`)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, http.StatusBadRequest, err
	}
	var req *LoadRequest
	var wasm []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, uploadStatus(err), fmt.Errorf("reading upload: %v", err)
		}
		switch part.FormName() {
		case "spec":
			var lr LoadRequest
			dec := json.NewDecoder(io.LimitReader(part, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&lr); err != nil {
				return nil, nil, http.StatusBadRequest, fmt.Errorf("spec part: %v", err)
			}
			req = &lr
		case "wasm":
			b, err := io.ReadAll(io.LimitReader(part, s.cfg.MaxUpload+1))
			if err != nil {
				return nil, nil, uploadStatus(err), fmt.Errorf("wasm part: %v", err)
			}
			if int64(len(b)) > s.cfg.MaxUpload {
				return nil, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("wasm part: module larger than %d bytes", s.cfg.MaxUpload)
			}
			wasm = b
		default:
			return nil, nil, http.StatusBadRequest, fmt.Errorf("unexpected part %q (want spec and wasm)", part.FormName())
		}
	}
	switch {
	case req == nil:
		return nil, nil, http.StatusBadRequest, errors.New(`missing "spec" part`)
	case wasm == nil:
		return nil, nil, http.StatusBadRequest, errors.New(`missing "wasm" part`)
	case req.Name == "":
		return nil, nil, http.StatusBadRequest, errors.New("spec: name is required")
	}
	return req, wasm, 0, nil
}

func uploadStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func (s *Server) unload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.pickChain(r.URL.Query().Get("chain"), name)
	if err != nil {
		writeError(w, http.StatusNotFound, &ErrorResponse{Error: err.Error()})
		return
	}
	p := ch.Slot.Chain().Find(name)
	if p == nil || !ch.Slot.Remove(name) {
		writeError(w, http.StatusNotFound, &ErrorResponse{Error: fmt.Sprintf("chain %s has no filter named %q", ch.Name, name)})
		return
	}
	s.log.Info("admin: filter removed", "chain", ch.Name, "filter", name)
	writeJSON(w, http.StatusOK, UnloadResult{Chain: ch.Name, Removed: filterInfo(p)})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "DRAINING\n")
		return
	}
	io.WriteString(w, "LIVE\n")
}

func (s *Server) configDump(w http.ResponseWriter, r *http.Request) {
	dump := struct {
		Kind      string      `json:"kind"`
		DataPlane any         `json:"data_plane,omitempty"`
		Chains    []ChainInfo `json:"chains"`
	}{Kind: s.cfg.Kind, Chains: s.chains()}
	if s.cfg.ConfigDump != nil {
		dump.DataPlane = s.cfg.ConfigDump()
	}
	writeJSON(w, http.StatusOK, dump)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if s.cfg.Stats != nil {
		if err := s.cfg.Stats(w); err != nil {
			return
		}
	}
	s.writePluginStats(w)
	_ = s.cfg.Host.Metrics().WritePrometheus(w)
}

// writePluginStats writes every installed filter's counters, labelled with
// its chain and name.
func (s *Server) writePluginStats(w io.Writer) {
	type row struct {
		labels string
		st     runtime.PluginStats
	}
	var rows []row
	for _, c := range s.cfg.Chains {
		for _, p := range c.Slot.Chain().Plugins() {
			rows = append(rows, row{fmt.Sprintf(`chain=%q,plugin=%q`, c.Name, p.Name()), p.Stats()})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].labels < rows[j].labels })
	families := []struct {
		name, typ string
		v         func(runtime.PluginStats) int64
	}{
		{"nicrt_wasm_streams_total", "counter", func(s runtime.PluginStats) int64 { return int64(s.Streams) }},
		{"nicrt_wasm_fail_closed_total", "counter", func(s runtime.PluginStats) int64 { return int64(s.FailClosed) }},
		{"nicrt_wasm_fail_open_total", "counter", func(s runtime.PluginStats) int64 { return int64(s.FailOpen) }},
		{"nicrt_wasm_vm_failures_total", "counter", func(s runtime.PluginStats) int64 { return int64(s.VMFailures) }},
		{"nicrt_wasm_vm_restarts_total", "counter", func(s runtime.PluginStats) int64 { return int64(s.VMRestarts) }},
		{"nicrt_wasm_local_responses_total", "counter", func(s runtime.PluginStats) int64 { return int64(s.LocalReply) }},
		{"nicrt_wasm_live_vms", "gauge", func(s runtime.PluginStats) int64 { return int64(s.LiveVMs) }},
		{"nicrt_wasm_live_streams", "gauge", func(s runtime.PluginStats) int64 { return s.LiveStreams }},
	}
	for _, f := range families {
		if len(rows) == 0 {
			break
		}
		fmt.Fprintf(w, "# TYPE %s %s\n", f.name, f.typ)
		for _, r := range rows {
			fmt.Fprintf(w, "%s{%s} %d\n", f.name, r.labels, f.v(r.st))
		}
	}
	fmt.Fprintf(w, "# TYPE nicrt_admin_loads_total counter\nnicrt_admin_loads_total %d\n", s.loads.Load())
	fmt.Fprintf(w, "# TYPE nicrt_admin_load_failures_total counter\nnicrt_admin_load_failures_total %d\n", s.failed.Load())
}
