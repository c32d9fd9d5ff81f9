package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nicrt/nicrt/runtime"
	"github.com/spf13/pflag"
)

type runFlags struct {
	config, vmConfig     string
	headers, respHeaders []string
	method, path, host   string
	body, respBody       string
	status               int
	routeHeader          string
	countInstructions    bool
	logLevel             string
	failOpen             bool
	clusters             []string
	respond              bool
	position             string
}

func init() {
	var f runFlags
	register(&command{
		name:    "run",
		summary: "run one request through a filter offline and show what the upstream and client would see",
		usage:   "FILE.wasm [flags]",
		normalize: func(args []string) []string {
			// Accept the curl-like spelling -H-resp for response headers.
			for i, a := range args {
				if a == "-H-resp" {
					args[i] = "--H-resp"
				} else if strings.HasPrefix(a, "-H-resp=") {
					args[i] = "-" + a
				}
			}
			return args
		},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&f.config, "config", "", "plugin configuration (JSON, or @file)")
			fs.StringVar(&f.vmConfig, "vm-config", "", "VM configuration (or @file)")
			fs.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'name: value' (repeatable)")
			fs.StringVar(&f.method, "method", "GET", "request method")
			fs.StringVar(&f.path, "path", "/", "request path (with query)")
			fs.StringVar(&f.host, "authority", "example.com", "request :authority (host[:port])")
			fs.StringVar(&f.body, "body", "", "request body (or @file)")
			fs.IntVar(&f.status, "response-status", 200, "status of the simulated upstream response")
			fs.StringArrayVar(&f.respHeaders, "H-resp", nil, "upstream response header 'name: value' (repeatable; also -H-resp)")
			fs.StringVar(&f.respBody, "response-body", "", "upstream response body (or @file)")
			fs.BoolVar(&f.respond, "no-response", false, "stop after the request phase")
			fs.StringVar(&f.routeHeader, "route-header", runtime.DefaultRouteHeader, "request header through which filters name the destination cluster")
			fs.BoolVar(&f.countInstructions, "count-instructions", false, "instrument the module and report executed wasm instructions per callback")
			fs.StringVar(&f.logLevel, "log-level", "trace", "lowest guest log level shown: trace, debug, info, warn, error, critical")
			fs.BoolVar(&f.failOpen, "fail-open", false, "let the request pass if the filter fails")
			fs.StringArrayVar(&f.clusters, "cluster", nil, "NAME=HOST:PORT cluster for the filter's HTTP callouts (repeatable)")
			fs.StringVar(&f.position, "position", runtime.PositionSidecar, "position reported to the filter (nicrt.position): sidecar or nic")
		},
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("run takes one module file")
			}
			f.respond = !f.respond
			return runOffline(os.Stdout, args[0], f)
		},
	})
}

// logRecord is one guest log line kept for printing.
type logRecord struct {
	level slog.Level
	msg   string
}

// collectHandler keeps guest log lines (records carrying a plugin attribute).
type collectHandler struct {
	mu    sync.Mutex
	min   slog.Level
	lines []logRecord
}

func (c *collectHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }
func (c *collectHandler) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.lines = append(c.lines, logRecord{r.Level, r.Message})
	c.mu.Unlock()
	return nil
}
func (c *collectHandler) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *collectHandler) WithGroup(string) slog.Handler      { return c }

func parseHeaderFlag(s string) (runtime.Field, error) {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" {
		// ":path: /x" style pseudo-headers
		if strings.HasPrefix(s, ":") {
			k2, v2, ok2 := strings.Cut(s[1:], ":")
			if ok2 {
				return runtime.Field{Name: strings.ToLower(":" + strings.TrimSpace(k2)), Value: strings.TrimSpace(v2)}, nil
			}
		}
		return runtime.Field{}, fmt.Errorf("header %q: want 'name: value'", s)
	}
	if strings.HasPrefix(s, ":") { // pseudo-header given as ":name: value"
		k2, v2, _ := strings.Cut(s[1:], ":")
		return runtime.Field{Name: strings.ToLower(":" + strings.TrimSpace(k2)), Value: strings.TrimSpace(v2)}, nil
	}
	return runtime.Field{Name: strings.ToLower(strings.TrimSpace(k)), Value: strings.TrimSpace(v)}, nil
}

func runOffline(w io.Writer, file string, f runFlags) error {
	wasm, err := readWasm(file)
	if err != nil {
		return err
	}
	cfg, err := readArg(f.config)
	if err != nil {
		return err
	}
	vmCfg, err := readArg(f.vmConfig)
	if err != nil {
		return err
	}
	body, err := readArg(f.body)
	if err != nil {
		return err
	}
	respBody, err := readArg(f.respBody)
	if err != nil {
		return err
	}
	level, err := runtime.ParseLogLevel(f.logLevel)
	if err != nil {
		return usagef("--log-level: %v", err)
	}
	clusters := map[string]string{}
	for _, c := range f.clusters {
		n, a, ok := strings.Cut(c, "=")
		if !ok || n == "" || a == "" {
			return usagef("--cluster %q: want NAME=HOST:PORT", c)
		}
		clusters[n] = a
	}
	req := runtime.Fields{{Name: ":method", Value: f.method}, {Name: ":path", Value: f.path}, {Name: ":authority", Value: f.host}, {Name: ":scheme", Value: "http"}}
	for _, h := range f.headers {
		fl, err := parseHeaderFlag(h)
		if err != nil {
			return usagef("-H: %v", err)
		}
		req.Set(fl.Name, fl.Value)
	}
	resp := runtime.Fields{{Name: ":status", Value: strconv.Itoa(f.status)}}
	for _, h := range f.respHeaders {
		fl, err := parseHeaderFlag(h)
		if err != nil {
			return usagef("-H-resp: %v", err)
		}
		resp.Add(fl.Name, fl.Value)
	}

	logs := &collectHandler{min: slog.LevelDebug - 4}
	ctx := context.Background()
	h, err := runtime.NewHost(ctx, runtime.HostConfig{
		Logger: slog.New(logs), LogLevel: level, Position: f.position, CacheDir: cacheDir(),
		Clusters: func(n string) (string, bool) { a, ok := clusters[n]; return a, ok },
	})
	if err != nil {
		return err
	}
	defer h.Close(ctx)
	t0 := time.Now()
	p, err := h.Load(ctx, wasm, runtime.PluginConfig{
		Name: pluginName(file), Configuration: cfg, VMConfiguration: vmCfg,
		PoolSize: 1, FailOpen: f.failOpen, CountInstructions: f.countInstructions,
	})
	if err != nil {
		return err
	}
	loadTime := time.Since(t0)
	var (
		eventsMu sync.Mutex // a filter deferring proxy_done finishes on another goroutine
		events   []runtime.CallbackEvent
	)
	s := runtime.NewChain(p).NewStream(runtime.StreamInfo{OnCallback: func(e runtime.CallbackEvent) {
		eventsMu.Lock()
		events = append(events, e)
		eventsMu.Unlock()
	}})
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	v := s.RequestHeaders(rctx, &req, len(body) == 0)
	var upBody []byte
	if v == runtime.Continue && len(body) > 0 {
		upBody, v = s.RequestBody(rctx, body, true)
	}
	switch v {
	case runtime.Continue:
		fmt.Fprintf(w, "upstream receives:\n  %s %s HTTP/1.1\n", req.Value(":method"), req.Value(":path"))
		printFields(w, req)
		if len(upBody) > 0 {
			fmt.Fprintf(w, "  body (%d bytes): %s\n", len(upBody), quoteBody(upBody))
		}
		if c, ok := req.Get(f.routeHeader); ok {
			fmt.Fprintf(w, "route: cluster %q (from %s)\n", c, f.routeHeader)
		} else {
			fmt.Fprintf(w, "route: no cluster chosen (%s not set): the data plane routes by host\n", f.routeHeader)
		}
		if f.respond {
			rv := s.ResponseHeaders(rctx, &resp, len(respBody) == 0)
			var downBody []byte
			if rv == runtime.Continue && len(respBody) > 0 {
				downBody, rv = s.ResponseBody(rctx, respBody, true)
			}
			switch rv {
			case runtime.Continue:
				fmt.Fprintf(w, "client receives:\n  HTTP/1.1 %s\n", resp.Value(":status"))
				printFields(w, resp)
				if len(downBody) > 0 {
					fmt.Fprintf(w, "  body (%d bytes): %s\n", len(downBody), quoteBody(downBody))
				}
			case runtime.Respond:
				printLocal(w, s.LocalResponse())
			default:
				fmt.Fprintln(w, "the filter reset the stream during the response")
			}
		}
	case runtime.Respond:
		printLocal(w, s.LocalResponse())
	default:
		fmt.Fprintln(w, "the filter reset the stream (no response)")
	}
	s.Close()
	p.Close()

	logs.mu.Lock()
	if len(logs.lines) > 0 {
		fmt.Fprintln(w, "guest log:")
		for _, l := range logs.lines {
			fmt.Fprintf(w, "  [%s] %s\n", slogName(l.level), l.msg)
		}
	}
	logs.mu.Unlock()
	fmt.Fprintf(w, "callbacks (plugin loaded in %v):\n", loadTime.Round(time.Millisecond))
	var total time.Duration
	var instr uint64
	eventsMu.Lock()
	defer eventsMu.Unlock()
	for _, e := range events {
		fmt.Fprintf(w, "  %-30s %10v", e.Callback, e.Duration.Round(100*time.Nanosecond))
		if f.countInstructions {
			fmt.Fprintf(w, "  %9d instructions", e.Instructions)
		}
		if e.Err != nil {
			fmt.Fprintf(w, "  FAILED: %v", e.Err)
		}
		fmt.Fprintln(w)
		total += e.Duration
		instr += e.Instructions
	}
	fmt.Fprintf(w, "  %-30s %10v", "total", total.Round(100*time.Nanosecond))
	if f.countInstructions {
		fmt.Fprintf(w, "  %9d instructions", instr)
	}
	fmt.Fprintln(w)
	return nil
}

func pluginName(file string) string {
	base := file[strings.LastIndexByte(file, '/')+1:]
	base = strings.TrimSuffix(base, ".wasm")
	var b strings.Builder
	for _, r := range base {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "filter"
	}
	return b.String()
}

func printFields(w io.Writer, f runtime.Fields) {
	sorted := append(runtime.Fields(nil), f...)
	sort.SliceStable(sorted, func(i, j int) bool {
		pi, pj := strings.HasPrefix(sorted[i].Name, ":"), strings.HasPrefix(sorted[j].Name, ":")
		return pi && !pj
	})
	for _, x := range sorted {
		fmt.Fprintf(w, "  %s: %s\n", x.Name, x.Value)
	}
}

func printLocal(w io.Writer, lr *runtime.LocalResponse) {
	if lr.Err != nil {
		fmt.Fprintf(w, "the filter FAILED (%v); the data plane answers %d (%s)\n", lr.Err, lr.Status, lr.Details)
	} else {
		fmt.Fprintf(w, "local response from filter %s (not forwarded upstream):\n", lr.Plugin)
	}
	fmt.Fprintf(w, "  HTTP/1.1 %d\n", lr.Status)
	if lr.Details != "" {
		fmt.Fprintf(w, "  (details: %s)\n", lr.Details)
	}
	printFields(w, lr.Headers)
	if len(lr.Body) > 0 {
		fmt.Fprintf(w, "  body (%d bytes): %s\n", len(lr.Body), quoteBody(lr.Body))
	}
}

func quoteBody(b []byte) string {
	const max = 200
	s := string(b)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

func slogName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	case l < slog.LevelError+4:
		return "error"
	}
	return "critical"
}
