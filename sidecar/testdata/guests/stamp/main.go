// Command stamp is a Proxy-Wasm filter for the sidecar's tests. Its plugin
// configuration is "key=value" pairs separated by ";":
//
//	cluster=NAME   set the routing header (x-nicrt-cluster) to NAME
//	stamp=VALUE    add x-stamp: VALUE to the request and x-stamp-resp to the response
//	upper-request  buffer the whole request body and upper-case it
//	wrap-response  buffer the whole response body and wrap it in [ ]
//	reject         refuse the configuration (a load that must fail)
//
// Unknown keys are refused, with a log line naming them, as real filters do.
package main

import (
	"bytes"
	"strings"

	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	cluster, stamp string
	upper, wrap    bool
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	for _, kv := range strings.Split(string(cfg), ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "":
		case "cluster":
			p.cluster = v
		case "stamp":
			p.stamp = v
		case "upper-request":
			p.upper = true
		case "wrap-response":
			p.wrap = true
		default:
			proxywasm.LogErrorf("stamp: unknown configuration key %q", k)
			return types.OnPluginStartStatusFailed
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{p: p} }

type stream struct {
	types.DefaultHttpContext
	p *plugin
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	if s.p.cluster != "" {
		proxywasm.ReplaceHttpRequestHeader("x-nicrt-cluster", s.p.cluster)
	}
	if s.p.stamp != "" {
		proxywasm.ReplaceHttpRequestHeader("x-stamp", s.p.stamp)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpRequestBody(size int, eos bool) types.Action {
	if !s.p.upper {
		return types.ActionContinue
	}
	if !eos {
		return types.ActionPause
	}
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil {
		proxywasm.LogErrorf("stamp: request body: %v", err)
		return types.ActionContinue
	}
	proxywasm.ReplaceHttpRequestBody(bytes.ToUpper(b))
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(int, bool) types.Action {
	if s.p.stamp != "" {
		proxywasm.ReplaceHttpResponseHeader("x-stamp-resp", s.p.stamp)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseBody(size int, eos bool) types.Action {
	if !s.p.wrap {
		return types.ActionContinue
	}
	if !eos {
		return types.ActionPause
	}
	proxywasm.PrependHttpResponseBody([]byte("["))
	proxywasm.AppendHttpResponseBody([]byte("]"))
	return types.ActionContinue
}
