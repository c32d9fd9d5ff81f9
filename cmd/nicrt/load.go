package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/admin"
)

// adminFlags are the flags every admin API client command takes.
type adminFlags struct {
	addr, token string
	timeout     time.Duration
}

func (a *adminFlags) register(fs *pflag.FlagSet) {
	*a = adminFlags{}
	fs.StringVar(&a.addr, "admin", envOr("NICRT_ADMIN", admin.DefaultAddress), "the data plane's admin API (sidecar or NIC), host:port or URL (env NICRT_ADMIN)")
	fs.StringVar(&a.token, "token", "", "admin API bearer token (default: env NICRT_ADMIN_TOKEN)")
	fs.DurationVar(&a.timeout, "timeout", 2*time.Minute, "give up after this long")
}

func (a *adminFlags) client() (*admin.Client, context.Context, context.CancelFunc) {
	tok := a.token
	if tok == "" {
		tok = os.Getenv("NICRT_ADMIN_TOKEN")
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	return admin.NewClient(a.addr, tok), ctx, cancel
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var loadOpts struct {
	adminFlags
	name, chain, config, rootID, vmID string
	failOpen, asJSON                  bool
	poolSize                          int
}

var lsOpts struct {
	adminFlags
	asJSON bool
}

var unloadOpts struct {
	adminFlags
	chain string
}

func init() {
	register(&command{
		name:    "load",
		summary: "load (or replace) a filter in a running sidecar or NIC, without dropping requests",
		usage: `FILE.wasm [--admin ADDR] [--name NAME] [--config JSON|@file] [--root-id ID] [--vm-id ID] [--fail-open] [--chain C]

Uploads the module to the data plane's admin API, which validates it,
compiles it and starts its VMs while the current chain keeps serving, then
swaps it in atomically: a filter of the same name is replaced (requests in
flight finish on it), otherwise the filter is appended to the chain. On
failure the running chain is untouched and the error, with the guest's log
lines, is printed; the exit status is then 1.

Examples:
  nicrt load filters/lb.wasm --config @examples/lb/reviews-round-robin.json
  nicrt load filters/route.wasm --name route --config '{"http":[...]}' --chain outbound
  nicrt load filters/lb.wasm --admin 127.0.0.1:15100      # a NIC's admin API`,
		flags: func(fs *pflag.FlagSet) {
			o := &loadOpts
			o.adminFlags.register(fs)
			o.name, o.chain, o.config, o.rootID, o.vmID, o.failOpen, o.asJSON, o.poolSize = "", "", "", "", "", false, false, 0
			fs.StringVar(&o.name, "name", "", "filter name in the chain (default: the file name without .wasm)")
			fs.StringVar(&o.config, "config", "", "plugin configuration (proxy_on_configure), inline or @FILE")
			fs.StringVar(&o.rootID, "root-id", "", "root_id, as Envoy's wasm filter has it")
			fs.StringVar(&o.vmID, "vm-id", "", "vm_id: filters with the same vm_id share shared data and queues")
			fs.BoolVar(&o.failOpen, "fail-open", false, "let requests pass unfiltered if the filter fails (default: fail closed with 500)")
			fs.StringVar(&o.chain, "chain", "", "chain to load into: a sidecar listener's name or a NIC direction (needed when ambiguous)")
			fs.IntVar(&o.poolSize, "pool-size", 0, "number of VMs (default: the data plane's GOMAXPROCS)")
			fs.BoolVar(&o.asJSON, "json", false, "print the admin API's JSON answer")
		},
		run: runLoad,
	})
	register(&command{
		name:    "ls",
		summary: "list the filters loaded in a running sidecar or NIC, with their counters",
		usage:   "[--admin ADDR] [--json]",
		flags: func(fs *pflag.FlagSet) {
			lsOpts.adminFlags.register(fs)
			lsOpts.asJSON = false
			fs.BoolVar(&lsOpts.asJSON, "json", false, "print the admin API's JSON answer")
		},
		run: runLs,
	})
	register(&command{
		name:    "unload",
		summary: "remove a filter from a running sidecar or NIC",
		usage:   "NAME [--admin ADDR] [--chain C]",
		flags: func(fs *pflag.FlagSet) {
			unloadOpts.adminFlags.register(fs)
			unloadOpts.chain = ""
			fs.StringVar(&unloadOpts.chain, "chain", "", "chain to remove it from (needed when several chains have a filter of that name)")
		},
		run: runUnload,
	})
}

func runLoad(_ *pflag.FlagSet, args []string) error {
	o := loadOpts
	if len(args) != 1 {
		return usagef("load takes one module file")
	}
	wasm, err := readWasm(args[0])
	if err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(args[0]), ".wasm")
	}
	cfg, err := readArg(o.config)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	c, ctx, cancel := o.client()
	defer cancel()
	res, err := c.Load(ctx, wasm, admin.LoadRequest{
		Chain: o.chain, Name: name, RootID: o.rootID, VMID: o.vmID,
		Configuration: string(cfg), FailOpen: o.failOpen, PoolSize: o.poolSize,
	})
	if err != nil {
		return err
	}
	if o.asJSON {
		return printJSON(os.Stdout, res)
	}
	in := res.Installed
	fmt.Printf("loaded %s into chain %s (sha256 %s, %s)\n", in.Name, res.Chain, short(in.SHA256), size(in.Size))
	if r := res.Replaced; r != nil {
		fmt.Printf("  replaced %s (sha256 %s, loaded %s, %d streams served); its requests in flight finish on it\n",
			r.Name, short(r.SHA256), r.LoadedAt.Local().Format(time.DateTime), r.Stats.Streams)
	} else {
		fmt.Printf("  new filter: appended to the chain\n")
	}
	fmt.Printf("  compile %s, VM start %s (%d VMs), swap %s\n", ms(res.CompileMS), ms(res.StartMS), in.PoolSize, us(res.SwapUS))
	fmt.Printf("  chain %s: %s\n", res.Chain, strings.Join(res.Position, " → "))
	return nil
}

func runLs(_ *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("ls takes no arguments")
	}
	c, ctx, cancel := lsOpts.client()
	defer cancel()
	res, err := c.List(ctx)
	if err != nil {
		return err
	}
	if lsOpts.asJSON {
		return printJSON(os.Stdout, res)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHAIN\tFILTER\tSHA256\tSIZE\tVMS\tSTREAMS\tFAIL-CLOSED\tFAIL-OPEN\tLOADED\tCONFIGURATION")
	for _, ch := range res.Chains {
		if len(ch.Filters) == 0 {
			fmt.Fprintf(tw, "%s\t(no filters)\t\t\t\t\t\t\t\t\n", ch.Name)
		}
		for _, f := range ch.Filters {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%s\t%s\n", ch.Name, f.Name, short(f.SHA256), size(f.Size),
				f.Stats.LiveVMs, f.PoolSize, f.Stats.Streams, f.Stats.FailClosed, f.Stats.FailOpen,
				f.LoadedAt.Local().Format(time.DateTime), clip(f.Config, 40))
		}
	}
	return tw.Flush()
}

func runUnload(_ *pflag.FlagSet, args []string) error {
	if len(args) != 1 {
		return usagef("unload takes one filter name")
	}
	c, ctx, cancel := unloadOpts.client()
	defer cancel()
	res, err := c.Unload(ctx, unloadOpts.chain, args[0])
	if err != nil {
		return err
	}
	fmt.Printf("removed %s from chain %s (sha256 %s, %d streams served); requests in flight finish on it\n",
		res.Removed.Name, res.Chain, short(res.Removed.SHA256), res.Removed.Stats.Streams)
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func ms(v float64) string { return fmt.Sprintf("%.1f ms", v) }

func us(v float64) string { return fmt.Sprintf("%.1f µs", v) }

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
