// Command passthrough is a Proxy-Wasm HTTP filter that does nothing: every
// callback returns Continue without calling the host.
//
// It exists to measure the filter machinery itself — the host creating a
// stream context and calling into the module for each request and response
// event — so that the cost of lb, route and fault can be read as
// "passthrough plus their own work". Its configuration must be empty or {}:
// anything else is refused rather than silently ignored.
package main

import (
	"github.com/nicrt/nicrt/filters/internal/config"
	"github.com/nicrt/nicrt/filters/internal/host"
	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

// OnPluginStart accepts only an empty configuration.
func (*pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	_, ok := host.Configure("passthrough", size, parseConfig)
	return types.OnPluginStartStatus(ok)
}

// parseConfig accepts nothing but an empty document or {}.
func parseConfig(data []byte) (struct{}, error) {
	doc := config.Parse(data)
	if root := doc.Root(); !root.IsNull() {
		if root.Kind() != "object" || root.Object().Len() != 0 {
			doc.Fail("", "passthrough takes no configuration (empty or {})")
		}
	}
	return struct{}{}, doc.Err()
}

// NewHttpContext implements types.PluginContext. The context has no state,
// so every stream shares one instance: the filter allocates nothing.
func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return theHTTPContext }

// httpContext implements every HTTP callback as "continue" (the embedded
// defaults), so the host still calls the module for each event.
type httpContext struct{ types.DefaultHttpContext }

var theHTTPContext = &httpContext{}
