package sidecar

import (
	"context"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/admin"
)

// TestAdminAPI: the sidecar's admin API serves its Envoy-named stats
// together with the filters' counters and the metrics filters define,
// readiness, and a config dump without the token; it requires the token
// and refuses a non-loopback address without one.
func TestAdminAPI(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, `admin: {address: "127.0.0.1:0", token: tok-7}`+testGuestConfig, "$APP", app.addr(), "$TG", testGuest(t))
	c := client(t)
	must(t, do(t, c, "GET", s.url("in", "/info"), nil).status == 200, "request through the filter")
	r := do(t, c, "GET", s.url("in", "/info"), nil, "x-test", "metrics")
	must(t, r.status == 200, "metrics request: %d %s", r.status, r.body)

	ctx := context.Background()
	if _, err := admin.NewClient(s.AdminAddr().String(), "").Stats(ctx); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("stats without the token: %v", err)
	}
	ac := admin.NewClient(s.AdminAddr().String(), "tok-7")
	statsSettle(t, func() (string, error) { return ac.Stats(ctx) },
		`envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="in"} 2`,
		`envoy_http_wasm_local_replies{envoy_http_conn_manager_prefix="in"} 1`,
		`envoy_cluster_upstream_rq_total{envoy_cluster_name="app"} 1`,
		`envoy_cluster_upstream_cx_total{envoy_cluster_name="app"} 1`,
		`envoy_server_live 1`,
		`nicrt_wasm_streams_total{chain="in",plugin="tg"} 2`,
		"# TYPE tg_counter counter\ntg_counter 3\n",
		`tg_labeled{cluster="a"} 1`,
	)
	must(t, ac.Ready(ctx) == nil, "not ready")
	dump, err := ac.ConfigDump(ctx)
	must(t, err == nil && strings.Contains(string(dump), `"in"`) && strings.Contains(string(dump), "redacted") && !strings.Contains(string(dump), "tok-7"),
		"config dump: %v %s", err, dump)
	list, err := ac.List(ctx)
	must(t, err == nil && len(list.Chains) == 1 && list.Chains[0].Name == "in" && list.Chains[0].Filters[0].Name == "tg", "filters: %v %+v", err, list)

	cfg, err := ParseConfig([]byte(`
admin: {address: "0.0.0.0:0"}
listeners: [{name: in, address: "127.0.0.1:0", cluster: app}]
clusters: [{name: app, endpoints: ["127.0.0.1:1"]}]
`), "")
	must(t, err == nil, "%v", err)
	if s2, err := New(ctx, cfg, Options{Logger: discardLogger()}); err == nil {
		s2.Close()
		t.Fatal("the admin API listened on 0.0.0.0 without a token")
	} else {
		must(t, strings.Contains(err.Error(), "admin.address") && strings.Contains(err.Error(), "without a token"), "error: %v", err)
	}
}
