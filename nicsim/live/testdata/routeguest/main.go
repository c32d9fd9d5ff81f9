// Command routeguest is a test filter for the live NIC's egress: it names
// the cluster a request goes to in the routing header, as filters/lb does,
// with the smallest logic a test can predict.
//
// Its configuration is "HOST=c1,c2,...": requests whose :authority is HOST
// (port ignored) cycle through the clusters in order (one counter per VM:
// load it with one VM for an exact sequence); other requests pass
// untouched. A request carrying "x-route: NAME" goes to NAME instead.
package main

import (
	"strings"

	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmCtx{}) }

type vmCtx struct{ types.DefaultVMContext }

func (*vmCtx) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	host     string
	clusters []string
	next     int
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, err := proxywasm.GetPluginConfiguration()
	host, list, ok := strings.Cut(string(cfg), "=")
	if err != nil || !ok || host == "" || list == "" {
		proxywasm.LogError("routeguest: configuration must be HOST=c1,c2,...")
		return types.OnPluginStartStatusFailed
	}
	p.host, p.clusters = host, strings.Split(list, ",")
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{p: p} }

type stream struct {
	types.DefaultHttpContext
	p *plugin
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	if want, err := proxywasm.GetHttpRequestHeader("x-route"); err == nil {
		proxywasm.ReplaceHttpRequestHeader("x-nicrt-cluster", want)
		return types.ActionContinue
	}
	authority, _ := proxywasm.GetHttpRequestHeader(":authority")
	if host, _, _ := strings.Cut(authority, ":"); host != s.p.host {
		return types.ActionContinue
	}
	c := s.p.clusters[s.p.next%len(s.p.clusters)]
	s.p.next++
	proxywasm.ReplaceHttpRequestHeader("x-nicrt-cluster", c)
	return types.ActionContinue
}
