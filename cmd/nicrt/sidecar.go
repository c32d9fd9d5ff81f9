package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/sidecar"
)

// sidecarFlags are the flags of nicrt sidecar.
type sidecarFlags struct {
	config     string
	printEnvoy bool
	check      bool
	logLevel   string
	logJSON    bool
	cpuProfile string
}

var sidecarOpts sidecarFlags

func init() {
	register(&command{
		name:    "sidecar",
		summary: "run an Envoy-style sidecar proxy that runs Proxy-Wasm filter chains",
		usage: `--config FILE [--print-envoy | --check] [--log-level L] [--log-json] [--cpuprofile FILE]

Runs one sidecar: the listeners, clusters, routes and filters of FILE (YAML or
JSON; every field is documented in docs/sidecar.md), and the admin API that
'nicrt load', 'nicrt ls' and 'nicrt unload' talk to (127.0.0.1:15000 unless
the file says otherwise). When ready it prints one line per listener and one
for the admin API; SIGINT or SIGTERM drain requests in flight and stop it.

Examples:
  nicrt sidecar --config examples/sidecar/sidecar.yaml
  nicrt sidecar --config examples/sidecar/sidecar.yaml --print-envoy > envoy.yaml
  nicrt load filters/lb.wasm --name lb --config @examples/sidecar/lb.json`,
		flags: func(fs *pflag.FlagSet) {
			sidecarOpts = sidecarFlags{}
			fs.StringVarP(&sidecarOpts.config, "config", "c", "", "the sidecar configuration file (required)")
			fs.BoolVar(&sidecarOpts.printEnvoy, "print-envoy", false, "print the equivalent envoy.yaml (Envoy v3 static bootstrap) and exit")
			fs.BoolVar(&sidecarOpts.check, "check", false, "validate the configuration, load (compile and start) every filter, and exit without listening")
			fs.StringVar(&sidecarOpts.logLevel, "log-level", "info", "log level for sidecar and guest log lines: debug, info, warn, error")
			fs.BoolVar(&sidecarOpts.logJSON, "log-json", false, "log JSON lines instead of text")
			fs.StringVar(&sidecarOpts.cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file until the sidecar stops")
		},
		run: runSidecar,
	})
}

func runSidecar(_ *pflag.FlagSet, args []string) error {
	o := sidecarOpts
	if len(args) != 0 {
		return usagef("unexpected argument %q", args[0])
	}
	if o.config == "" {
		return usagef("--config is required")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	cfg, err := sidecar.LoadConfig(o.config)
	if err != nil {
		return err
	}
	if o.printEnvoy {
		return sidecar.WriteEnvoyConfig(os.Stdout, cfg)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if o.logJSON {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	}
	log := slog.New(h)
	if o.check {
		if err := sidecar.Check(context.Background(), cfg, sidecar.Options{Logger: log}); err != nil {
			return err
		}
		fmt.Printf("%s: configuration is valid; every filter loaded\n", o.config)
		return nil
	}
	s, err := sidecar.New(context.Background(), cfg, sidecar.Options{Logger: log})
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			s.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			s.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.Start()
	for _, l := range cfg.Listeners {
		fmt.Printf("nicrt sidecar: listener %s (%s) on http://%s\n", l.Name, l.Direction, s.ListenerAddr(l.Name))
	}
	if a := s.AdminAddr(); a != nil {
		fmt.Printf("nicrt sidecar: admin API on http://%s\n", a)
	}
	<-ctx.Done()
	stop()
	fmt.Fprintln(os.Stderr, "nicrt sidecar: draining")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Timeouts.Drain.D()+time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "nicrt sidecar: %v\n", err)
	}
	fmt.Fprintln(os.Stderr, "nicrt sidecar: stopped")
	return nil
}
