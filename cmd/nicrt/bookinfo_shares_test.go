//go:build linux

package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/bookinfo-harness/load"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
)

// measure600 loads the page with exactly 600 requests over 4 connections
// and checks that none failed.
func measure600(t *testing.T, entry string, headers ...string) *load.Result {
	t.Helper()
	res, err := load.Run(context.Background(), load.Options{URL: entry, Connections: 4, Requests: 600, Headers: headers})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 600 || res.Errors() != 0 {
		t.Fatalf("%d requests, codes %v, %d degraded pages", res.Requests, res.Codes, res.Degraded)
	}
	return res
}

// testShares checks where reviews requests go: direct sends everything to
// v3; sidecar-both and nic-offload with the default lb round robin spread
// them evenly; with the jason-v2-v3 route config, jason reaches v2 only and
// everyone else v3.
func testShares(t *testing.T, bin string) {
	t.Run("direct-all-v3", func(t *testing.T) {
		u := startUp(t, bin, "--topology", topology.Direct)
		if res := measure600(t, u.entry); res.Versions["v3"] != 600 {
			t.Errorf("versions %v, want all 600 from v3", res.Versions)
		}
		u.stop(t, sigint)
	})
	for _, topo := range []string{topology.SidecarBoth, topology.NICOffload} {
		t.Run(topo+"-round-robin", func(t *testing.T) {
			u := startUp(t, bin, "--topology", topo)
			res := measure600(t, u.entry)
			for _, v := range []string{"v1", "v2", "v3"} {
				if s := res.Share(v); math.Abs(s-1.0/3) > 0.05 {
					t.Errorf("share of %s %.3f, want 1/3 ± 0.05 (versions %v)", v, s, res.Versions)
				}
			}
			u.stop(t, sigint)
			if topo == topology.NICOffload {
				checkNICAccounts(t, u, 600)
			}
		})
		t.Run(topo+"-jason-v2-v3", func(t *testing.T) {
			cfg, _ := filepath.Abs("../../examples/route/reviews-jason-v2-v3.json")
			if _, err := os.Stat(cfg); err != nil {
				t.Skipf("the route filter's examples are not in this tree yet: %v", err)
			}
			u := startUp(t, bin, "--topology", topo, "--filter-config", cfg)
			cookie := signIn(t, u.entry, "jason")
			if res := measure600(t, u.entry, "Cookie: "+cookie); res.Versions["v2"] != 600 {
				t.Errorf("jason's pages came from %v, want all 600 from v2", res.Versions)
			}
			if res := measure600(t, u.entry); res.Versions["v3"] != 600 {
				t.Errorf("anonymous pages came from %v, want all 600 from v3", res.Versions)
			}
			u.stop(t, sigint)
		})
	}
}

// testNICOffloadLoad: in a running nic-offload deployment, `nicrt load`
// against productpage's NIC (its admin address is listed with the process)
// swaps the lb filter on its egress chain for route with the reviews-v3
// rule: pages then come from v3 alone, without a restart or a failed page.
func testNICOffloadLoad(t *testing.T, bin string) {
	u := startUp(t, bin, "--topology", topology.NICOffload)
	if res := measure600(t, u.entry); res.Share("v1") == 0 || res.Share("v2") == 0 {
		t.Fatalf("before the swap: versions %v, want lb's round robin", res.Versions)
	}
	ready := u.ready["productpage"]
	if len(ready) != 2 {
		t.Fatalf("productpage listed %v, want its service and its NIC's admin API", ready)
	}
	cfg, _ := filepath.Abs("../../examples/route/reviews-v3.json")
	out, err := exec.Command(bin, "load", filepath.Join(wasmDirForTests(t), "route.wasm"), "--admin", ready[1],
		"--chain", "egress", "--name", "lb-0", "--config", "@"+cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "egress") {
		t.Fatalf("nicrt load: %v\n%s", err, out)
	}
	if res := measure600(t, u.entry); res.Versions["v3"] != 600 {
		t.Errorf("after loading route reviews-v3 on productpage's NIC: versions %v, want all 600 from v3", res.Versions)
	}
	u.stop(t, sigint)
}
