package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// TestChangesNothing: every callback continues and no header changes.
func TestChangesNothing(t *testing.T) {
	for _, cfg := range []string{"", "{}", " { }\n"} {
		t.Run(fmt.Sprintf("%q", cfg), func(t *testing.T) {
			host := filtertest.Start(t, &vmContext{}, cfg)
			in := filtertest.Headers("reviews:9080", "/reviews/0", "end-user", "jason")
			id, action := filtertest.Send(host, in)
			if action != types.ActionContinue {
				t.Errorf("request headers: %v", action)
			}
			if out := host.GetCurrentRequestHeaders(id); fmt.Sprint(out) != fmt.Sprint(in) {
				t.Errorf("headers changed: %v", out)
			}
			for name, a := range map[string]types.Action{
				"request body":     host.CallOnRequestBody(id, []byte("x"), true),
				"response headers": host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false),
				"response body":    host.CallOnResponseBody(id, []byte("y"), true),
			} {
				if a != types.ActionContinue {
					t.Errorf("%s: %v", name, a)
				}
			}
			host.CompleteHttpContext(id)
		})
	}
}

func TestRefusesConfiguration(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"a": 1}`: "passthrough takes no configuration",
		`[]`:       "passthrough takes no configuration",
		`x`:        "invalid JSON at byte offset 0",
	} {
		logs := filtertest.StartFailing(t, &vmContext{}, cfg)
		if !strings.Contains(strings.Join(logs, "\n"), want) {
			t.Errorf("%s: logs %q do not say %q", cfg, logs, want)
		}
	}
}
