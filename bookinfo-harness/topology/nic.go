package topology

import (
	"path/filepath"
	"strings"
)

// The NIC topologies run each host's simulated NIC inside its service
// process (`nicrt bookinfo serve --nic ...`): the NIC wraps the service's
// listener (ingress) and the dialer of its upstream calls (egress), as a
// card sits between a host's sockets and the wire.

// nicService adds host's service behind its NIC: the NIC writes its
// account of the run to a file the plan lists, and serves the admin API
// on a port of the host's own (listed with the process, where `nicrt load
// --admin` finds it), so its filters can be swapped while it runs.
func (b *builder) nicService(host int, listen string, extra ...string) error {
	stats := filepath.Join(b.opts.Dir, hosts[host]+".nic.json")
	if b.plan.NICStats == nil {
		b.plan.NICStats = map[string]string{}
	}
	b.plan.NICStats[hosts[host]] = stats
	adm, err := b.addr(host)
	if err != nil {
		return err
	}
	args := []string{"--nic", "--nic-stats", stats, "--nic-admin", adm}
	if b.opts.NICModel != "" {
		args = append(args, "--nic-model", b.opts.NICModel)
	}
	b.service(host, listen, append(args, extra...)...)
	p := &b.plan.Procs[len(b.plan.Procs)-1]
	p.Ready = append(p.Ready, adm)
	return nil
}

const nicPart, nicWhat = "nic", "the live NIC (nicsim/live, issue 5: `bookinfo serve --nic`)"

// buildNICPassthrough: direct's processes and addresses, each host behind
// its NIC, no filter. reviews is v3 alone: nothing chooses a version.
//
//	client → {NIC}productpage{NIC} → {NIC}details
//	                               → {NIC}reviews-v3{NIC} → {NIC}ratings
func buildNICPassthrough(b *builder) error {
	if err := b.need(nicPart, nicWhat); err != nil {
		return err
	}
	a, err := b.addrs(hostProductpage, hostDetails, hostReviewsV3, hostRatings)
	if err != nil {
		return err
	}
	for _, sv := range []struct {
		host int
		args []string
	}{
		{hostRatings, nil},
		{hostDetails, nil},
		{hostReviewsV3, []string{"--ratings", a[hostRatings]}},
		{hostProductpage, []string{"--details", a[hostDetails], "--reviews", a[hostReviewsV3], "--ratings", a[hostRatings]}},
	} {
		if err := b.nicService(sv.host, a[sv.host], sv.args...); err != nil {
			return err
		}
	}
	b.plan.Entry = "http://" + a[hostProductpage] + "/productpage"
	b.plan.NICModel = b.modelName()
	return nil
}

// buildNICOffload: sidecar-both without sidecars. The callers' NICs run the
// filter chain on their egress and route by its routing header to the
// clusters sidecar-both's outbound listeners have; services name their
// upstreams logically ("reviews:9080") and the NIC resolves them.
//
//	client → {NIC}productpage{NIC: filters} → {NIC}details
//	                                        → {NIC}reviews-vN{NIC: filters} → {NIC}ratings
func buildNICOffload(b *builder) error {
	if err := b.need(nicPart, nicWhat); err != nil {
		return err
	}
	all := []int{hostProductpage, hostDetails, hostReviewsV1, hostReviewsV2, hostReviewsV3, hostRatings}
	a, err := b.addrs(all...)
	if err != nil {
		return err
	}
	var callerArgs []string
	for i, f := range b.opts.Filters {
		wasm, err := b.wasmPath(f.Kind)
		if err != nil {
			return err
		}
		path := b.filterFile(i, f)
		callerArgs = append(callerArgs, "--nic-filter", wasm+":@"+path)
	}
	for _, c := range meshClusters(func(h int) string { return a[h] }) {
		callerArgs = append(callerArgs, "--nic-cluster", c.Name+"="+strings.Join(c.Endpoints, ","))
	}
	for _, h := range []int{hostRatings, hostDetails, hostReviewsV1, hostReviewsV2, hostReviewsV3, hostProductpage} {
		var args []string
		if calls(h) {
			args = callerArgs
		}
		if err := b.nicService(h, a[h], args...); err != nil {
			return err
		}
	}
	b.plan.Entry = "http://" + a[hostProductpage] + "/productpage"
	b.plan.Filters = b.opts.Filters
	b.plan.NICModel = b.modelName()
	return nil
}

// modelName is the NIC model for the record.
func (b *builder) modelName() string {
	if b.opts.NICModel == "" {
		return "default"
	}
	return b.opts.NICModel
}
