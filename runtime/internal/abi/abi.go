// Package abi holds the Proxy-Wasm ABI v0.2.1 constants and the wire encoding
// of header maps and property paths, as the host sees them.
//
// It is the one place the runtime spells out numbers from the specification
// (proxy-wasm/spec abi-versions/v0.2.1), so the host functions read as names.
package abi

// Status is proxy_status_t, the result of every host function.
type Status uint32

// Status values from the specification.
const (
	StatusOK                  Status = 0
	StatusNotFound            Status = 1
	StatusBadArgument         Status = 2
	StatusSerializationFailed Status = 3
	StatusParseFailure        Status = 4
	StatusInvalidMemoryAccess Status = 6
	StatusEmpty               Status = 7
	StatusCASMismatch         Status = 8
	StatusInternalFailure     Status = 10
	StatusUnimplemented       Status = 12
)

var statusNames = map[Status]string{
	StatusOK: "OK", StatusNotFound: "NOT_FOUND", StatusBadArgument: "BAD_ARGUMENT",
	StatusSerializationFailed: "SERIALIZATION_FAILURE", StatusParseFailure: "PARSE_FAILURE",
	StatusInvalidMemoryAccess: "INVALID_MEMORY_ACCESS", StatusEmpty: "EMPTY",
	StatusCASMismatch: "CAS_MISMATCH", StatusInternalFailure: "INTERNAL_FAILURE",
	StatusUnimplemented: "UNIMPLEMENTED",
}

// String returns the specification's name for s.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "UNKNOWN_STATUS"
}

// Action is proxy_action_t, what a stream callback asks the host to do next.
type Action uint32

// Action values.
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// LogLevel is proxy_log_level_t.
type LogLevel uint32

// Log levels.
const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
)

// BufferType is proxy_buffer_type_t.
type BufferType uint32

// Buffer types.
const (
	BufferHTTPRequestBody          BufferType = 0
	BufferHTTPResponseBody         BufferType = 1
	BufferDownstreamData           BufferType = 2
	BufferUpstreamData             BufferType = 3
	BufferHTTPCallResponseBody     BufferType = 4
	BufferGRPCCallMessage          BufferType = 5
	BufferVMConfiguration          BufferType = 6
	BufferPluginConfiguration      BufferType = 7
	BufferForeignFunctionArguments BufferType = 8
)

// MapType is proxy_map_type_t.
type MapType uint32

// Map types.
const (
	MapHTTPRequestHeaders       MapType = 0
	MapHTTPRequestTrailers      MapType = 1
	MapHTTPResponseHeaders      MapType = 2
	MapHTTPResponseTrailers     MapType = 3
	MapGRPCInitialMetadata      MapType = 4
	MapGRPCTrailingMetadata     MapType = 5
	MapHTTPCallResponseHeaders  MapType = 6
	MapHTTPCallResponseTrailers MapType = 7
)

// StreamType is proxy_stream_type_t.
type StreamType uint32

// Stream types.
const (
	StreamHTTPRequest  StreamType = 0
	StreamHTTPResponse StreamType = 1
	StreamDownstream   StreamType = 2
	StreamUpstream     StreamType = 3
)

// MetricType is proxy_metric_type_t.
type MetricType uint32

// Metric types.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

// WASI errno values the host returns from the WASI functions it overrides.
const (
	ErrnoSuccess = 0
	ErrnoBadf    = 8
	ErrnoFault   = 21
	ErrnoInval   = 28
	ErrnoNotsup  = 58
)
