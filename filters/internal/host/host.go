// Package host holds the few host interactions every nicrt filter repeats:
// reading the plugin configuration and refusing a bad one loudly. It is
// written against nicrt's guest layer, so it works in the wasip1 build and
// under the SDK's proxytest emulator alike.
package host

import (
	"errors"

	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// PluginConfig returns the plugin configuration (Envoy's "configuration"
// field) given its size from OnPluginStart; a missing configuration is empty.
func PluginConfig(size int) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	data, err := proxywasm.GetPluginConfiguration()
	if errors.Is(err, types.ErrorStatusNotFound) {
		return nil, nil
	}
	return data, err
}

// Refuse logs why a filter's configuration was refused, at error level and
// naming the filter, and returns the status that makes the host fail the
// plugin (proxy_on_configure returns false).
func Refuse(filter string, err error) types.OnPluginStartStatus {
	proxywasm.LogErrorf("nicrt %s filter: configuration refused: %v", filter, err)
	return types.OnPluginStartStatusFailed
}

// Configure reads the plugin configuration and parses it with parse. On any
// error it logs the refusal (see Refuse) and returns ok false; the caller
// then returns types.OnPluginStartStatusFailed.
func Configure[T any](filter string, size int, parse func([]byte) (T, error)) (cfg T, ok bool) {
	data, err := PluginConfig(size)
	if err == nil {
		cfg, err = parse(data)
	}
	if err != nil {
		Refuse(filter, err)
		return cfg, false
	}
	return cfg, true
}
