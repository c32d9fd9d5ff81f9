// Package sidecar is nicrt's sidecar proxy: an Envoy-style HTTP/1.1 proxy
// process that runs Proxy-Wasm filter chains on every request, the
// baseline nicrt measures the SmartNIC against.
//
// A Config (one YAML file, see docs/sidecar.md) describes listeners —
// inbound, in front of the local service, or outbound, for the local app's
// calls to other services — each with its filter chain and routes;
// clusters of upstream endpoints (round-robin, keep-alive pools); timeouts
// and limits; and the admin API (package admin), through which filters are
// swapped while traffic flows.
//
// Per request, as Envoy's http_connection_manager and router do: the head
// is parsed (internal/h1), x-forwarded-for, x-forwarded-proto and
// x-request-id are added, the listener's chain runs on the request headers
// (and on the body only when a filter asks: bodies otherwise stream), and
// the request goes to the cluster named by the routing header a filter set
// (Envoy's cluster_header; default "x-nicrt-cluster"), else the cluster
// routed by host, else the listener's default cluster. The response runs
// back through the chain. Failures are answered the way Envoy answers them,
// with the reason in an x-nicrt-details field: 400 for malformed requests,
// 408 for slow clients, 404/503 when no route or cluster matches, 503 when
// the upstream cannot be reached, 504 on timeout, 500 when a filter fails
// closed (wasm_fail_stream).
package sidecar
