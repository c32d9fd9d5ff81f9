package envoytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repo builds a miniature repository: a filter source and a config file.
func repo(t *testing.T) string {
	root := t.TempDir()
	for path, content := range map[string]string{
		"filters/demo/main.go":      "package main\n",
		"examples/demo/config.json": `{"a": [1, 2]}`,
	} {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const good = `static_resources:
  listeners:
  - name: l
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          route_config:
            virtual_hosts:
            - routes:
              - route: { cluster_header: x-nicrt-cluster }
              - route: { cluster: c1 }
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: demo
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: { local: { filename: filters/demo.wasm } }
                # nicrt-config: examples/demo/config.json
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"a":[1,2]}'
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: c1
    load_assignment:
      cluster_name: c1
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
`

// TestCheck: the good file passes, and each breakage is reported.
func TestCheck(t *testing.T) {
	root := repo(t)
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"good", "", "", ""},
		{"undefined cluster", "cluster: c1 }", "cluster: c2 }", "undefined cluster c2"},
		{"runtime", "envoy.wasm.runtime.v8", "envoy.wasm.runtime.wamr", "runtime"},
		{"no source", "filters/demo.wasm", "filters/other.wasm", "no filter source filters/other/main.go"},
		{"bad filename", "filters/demo.wasm", "demo.wasm", "is not filters/<name>.wasm"},
		{"config differs", `'{"a":[1,2]}'`, `'{"a":[2,1]}'`, "differs from examples/demo/config.json"},
		{"config file missing", "examples/demo/config.json", "examples/demo/nope.json", "nope.json"},
		{"no comment", "# nicrt-config: examples/demo/config.json", "", "no \"nicrt-config:\" comment"},
		{"config type", "protobuf.StringValue", "protobuf.Struct", "configuration @type"},
		{"router not last", "envoy.filters.http.router\n", "envoy.filters.http.other\n", "last HTTP filter"},
		{"assignment name", "cluster_name: c1", "cluster_name: c9", "load_assignment.cluster_name"},
		{"not yaml", "static_resources:", "static_resources: [", "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := good
			if tc.old != "" {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("fixture lacks %q", tc.old)
				}
				src = strings.Replace(src, tc.old, tc.new, 1)
			}
			path := filepath.Join(t.TempDir(), "envoy.yaml")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			var msgs []string
			b, err := Load(path)
			if err != nil {
				msgs = append(msgs, err.Error())
			} else {
				for _, e := range Check(b, root) {
					msgs = append(msgs, e.Error())
				}
			}
			all := strings.Join(msgs, "\n")
			switch {
			case tc.want == "" && all != "":
				t.Errorf("good file reported: %s", all)
			case tc.want != "" && !strings.Contains(all, tc.want):
				t.Errorf("problems %q do not mention %q", all, tc.want)
			}
		})
	}
}

func TestRoutingHelpers(t *testing.T) {
	b := &Bootstrap{Clusters: []string{"a"}, Listeners: []Listener{{Routes: []Route{{ClusterHeader: "h"}}}}}
	if !b.ClusterHeaders()["h"] || !b.Defines("a") || b.Defines("b") {
		t.Error("helpers disagree with the bootstrap")
	}
	if !SameJSON([]byte(`{"a": 1, "b": [true]}`), []byte(`{"b":[true],"a":1}`)) || SameJSON([]byte(`[1,2]`), []byte(`[2,1]`)) {
		t.Error("SameJSON")
	}
}
