package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/nicrt/nicrt/runtime"
	"github.com/spf13/pflag"
)

func init() {
	var asJSON bool
	var config string
	register(&command{
		name:    "inspect",
		summary: "check a Proxy-Wasm module: ABI version, exports, imports, and whether nicrt can run it",
		usage:   "FILE.wasm [--config JSON|@file] [--json]",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			fs.StringVar(&config, "config", "", "also start the plugin with this configuration (JSON, or @file) to check that it accepts it")
		},
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("inspect takes one module file")
			}
			wasm, err := readWasm(args[0])
			if err != nil {
				return err
			}
			return inspect(os.Stdout, args[0], wasm, asJSON, fs.Changed("config"), config)
		},
	})
}

func inspect(w io.Writer, name string, wasm []byte, asJSON, start bool, config string) error {
	ctx := context.Background()
	h, err := runtime.NewHost(ctx, runtime.HostConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheDir: cacheDir()})
	if err != nil {
		return err
	}
	defer h.Close(ctx)
	r := h.Inspect(ctx, wasm)
	var startErr error
	if r.Runnable && start {
		cfg, err := readArg(config)
		if err != nil {
			return err
		}
		p, err := h.Load(ctx, wasm, runtime.PluginConfig{Name: "inspect", Configuration: cfg, PoolSize: 1})
		if err == nil {
			p.Close()
		}
		startErr = err
	}
	if asJSON {
		out := struct {
			*runtime.Report
			StartError string `json:"start_error,omitempty"`
		}{Report: r}
		if startErr != nil {
			out.StartError = startErr.Error()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printReport(w, name, r, start, startErr)
	}
	if !r.Runnable || startErr != nil {
		return exitError{1}
	}
	return nil
}

func printReport(w io.Writer, name string, r *runtime.Report, started bool, startErr error) {
	abi := r.ABIVersion
	if abi == "" {
		abi = "none (no proxy_abi_version_* export)"
	}
	fmt.Fprintf(w, "module      %s (%d bytes, sha256 %s)\n", name, r.Size, shortHash(r.SHA256))
	fmt.Fprintf(w, "abi         %s\n", abi)
	fmt.Fprintf(w, "callbacks   %s\n", orNone(strings.Join(r.Callbacks, " ")))
	fmt.Fprintf(w, "imports     %d (%d provided by nicrt)\n", len(r.Imports), len(r.Imports)-len(r.Unknown))
	for _, imp := range r.Imports {
		mark := "ok"
		if !imp.Provided {
			mark = "MISSING: " + imp.Problem
		}
		fmt.Fprintf(w, "  %-26s %-38s %-28s %s\n", imp.Module, imp.Name, imp.Signature, mark)
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(w, "missing     %s\n", strings.Join(r.Missing, ", "))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem     %s\n", p)
	}
	switch {
	case !r.Runnable:
		fmt.Fprintln(w, "verdict     nicrt cannot run this module")
	case startErr != nil:
		fmt.Fprintf(w, "verdict     the module is valid but did not start: %v\n", startErr)
	case started:
		fmt.Fprintln(w, "verdict     runnable; started with the given configuration")
	default:
		fmt.Fprintln(w, "verdict     runnable")
	}
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
