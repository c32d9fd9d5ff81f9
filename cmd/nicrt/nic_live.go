package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/nicsim/live"
)

// The live relay: `nicrt nic --listen ADDR --upstream ADDR` puts the
// simulated NIC in front of a service nicrt did not write. It is the nic
// command's default mode.

func init() {
	registerNICMode(&nicMode{
		name:    "",
		summary: "relay a service through the live simulated NIC (the model's delays, the filters, real sockets)",
		usage:   "--listen ADDR --upstream ADDR [--model FILE|PRESET] [--filter FILE.wasm[:CONFIG]]... [--pcap OUT.pcap] [--admin ADDR]",
		flags: func(fs *pflag.FlagSet) {
			fs.String("listen", "", "live: address the NIC accepts clients on (IPv4)")
			fs.String("upstream", "", "live: address of the service behind the NIC")
			fs.String("pcap", "", "live: write every frame that left the NIC, stamped with its simulated departure, to this pcap")
			fs.Duration("tolerance", live.DefaultTolerance, "live: lateness beyond which a released message counts as an underrun")
			fs.Duration("grace", 10*time.Second, "live: on SIGINT/SIGTERM, how long open connections may take to finish")
			fs.String("admin", "", "live: serve the admin API (the sidecar's: nicrt load/ls/unload swap the NIC's filters while it runs) on this address; default none")
			fs.String("admin-token-file", "", "live: file holding the admin API's bearer token (required for a non-loopback --admin)")
		},
		run: runNICLive,
	})
}

func runNICLive(fs *pflag.FlagSet, args []string, common *nicCommon) error {
	if len(args) > 0 {
		return usagef("unknown mode %q (modes: replay; the live relay takes only flags)", args[0])
	}
	listen, _ := fs.GetString("listen")
	upstream, _ := fs.GetString("upstream")
	if listen == "" || upstream == "" {
		return usagef("the live relay needs --listen ADDR and --upstream ADDR (or use 'nicrt nic replay')")
	}
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return usagef("--upstream %q: %v", upstream, err)
	}
	pcapPath, _ := fs.GetString("pcap")
	tolerance, _ := fs.GetDuration("tolerance")
	grace, _ := fs.GetDuration("grace")
	if tolerance <= 0 || grace < 0 {
		return usagef("--tolerance must be positive and --grace not negative")
	}
	cfg, err := common.Model()
	if err != nil {
		return err
	}
	specs, err := common.specs()
	if err != nil {
		return err
	}
	adminAddr, _ := fs.GetString("admin")
	token, err := readTokenFile(fs)
	if err != nil {
		return err
	}
	opt := live.Options{Model: cfg, Tolerance: tolerance}
	var filters *liveFilters
	if len(specs) > 0 || adminAddr != "" {
		// With an admin API the engines run the chain it swaps, empty or not.
		if filters, err = newLiveFilters(cfg.Engine.Count, chainSpec{chainIngress, specs}); err != nil {
			return err
		}
		defer filters.close()
		opt.Engines, opt.PausingFilters = filters.engines(chainIngress), filters.mayPause
	}
	var pcap *os.File
	if pcapPath != "" {
		if pcap, err = os.Create(pcapPath); err != nil {
			return err
		}
		defer pcap.Close()
		opt.Capture = pcap
	}
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	n, err := live.New(opt)
	if err != nil {
		ln.Close()
		return err
	}
	var adm *nicAdmin
	if adminAddr != "" {
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		dump := nicAdminDump{Listen: ln.Addr().String(), Upstream: upstream, Tolerance: tolerance.String()}
		if adm, err = startNICAdmin(adminAddr, token, n, filters, dump, log); err != nil {
			ln.Close()
			n.Close()
			return err
		}
	}
	fmt.Printf("nicrt nic: listening on %s, relaying to %s through the simulated NIC (model %s, %s)\n", ln.Addr(), upstream, cfg.Name, describeFilters(specs))
	if adm != nil {
		fmt.Printf("nicrt nic: admin API on %s (chain %q)\n", adm.Addr(), chainIngress)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if adm != nil {
		context.AfterFunc(ctx, adm.drain)
	}
	err = n.Relay(ctx, ln, upstream, grace)
	fmt.Fprintf(os.Stderr, "nicrt nic: stopped\n")
	if adm != nil {
		if aerr := adm.stop(); err == nil && aerr != nil {
			err = fmt.Errorf("admin API: %w", aerr)
		}
	}
	if cerr := n.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("--pcap %s: %w", pcapPath, cerr)
	}
	st := n.Stats()
	if werr := st.WriteSummary(os.Stdout); err == nil {
		err = werr
	}
	if pcap != nil {
		if cerr := pcap.Close(); err == nil && cerr != nil {
			err = cerr
		}
		fmt.Printf("frames that left the NIC, with their simulated departure times: %s\n", pcapPath)
	}
	return err
}

// readTokenFile reads --admin-token-file: the token, its trailing newline
// dropped; "" when the flag is not given.
func readTokenFile(fs *pflag.FlagSet) (string, error) {
	path, _ := fs.GetString("admin-token-file")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if tok == "" {
		return "", fmt.Errorf("--admin-token-file %s: the file is empty", path)
	}
	return tok, nil
}
