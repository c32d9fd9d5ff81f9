//go:build wasip1

package proxywasm

import (
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// ABI enumerations (proxy-wasm spec v0.2.1, "Types").
const (
	bufRequestBody      = 0
	bufResponseBody     = 1
	bufDownstreamData   = 2
	bufUpstreamData     = 3
	bufCallResponseBody = 4
	bufVMConfiguration  = 6
	bufPluginConfig     = 7

	mapRequestHeaders      = 0
	mapRequestTrailers     = 1
	mapResponseHeaders     = 2
	mapResponseTrailers    = 3
	mapCallResponseHeaders = 6
	mapCallResponseTrailer = 7

	streamRequest    = 0
	streamResponse   = 1
	streamDownstream = 2
	streamUpstream   = 3

	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
)

// statusError maps proxy_status_t to the SDK's error values, so filters
// compare errors exactly as they would under the SDK. OK, by far the most
// common status, is decided inline at the call site.
func statusError(s uint32) error {
	if s == 0 {
		return nil
	}
	return statusErrorSlow(s)
}

func statusErrorSlow(s uint32) error {
	switch s {
	case 1:
		return types.ErrorStatusNotFound
	case 2:
		return types.ErrorStatusBadArgument
	case 7:
		return types.ErrorStatusEmpty
	case 8:
		return types.ErrorStatusCasMismatch
	case 10:
		return types.ErrorInternalFailure
	case 12:
		return types.ErrorUnimplemented
	}
	return errors.New("error status returned by host: " + strconv.Itoa(int(s)))
}

// ---- configuration, timers, contexts ----

// GetVMConfiguration returns the VM configuration; valid in OnVMStart.
func GetVMConfiguration() ([]byte, error) { return getBuffer(bufVMConfiguration, 0, 1<<30) }

// GetPluginConfiguration returns the plugin configuration; valid in OnPluginStart.
func GetPluginConfiguration() ([]byte, error) { return getBuffer(bufPluginConfig, 0, 1<<30) }

// SetTickPeriodMilliSeconds asks the host to call OnTick every millSec milliseconds (0 stops it).
func SetTickPeriodMilliSeconds(millSec uint32) error {
	return statusError(hostSetTickPeriod(millSec))
}

// SetEffectiveContext makes later host calls act on the given context.
func SetEffectiveContext(contextID uint32) error {
	err := statusError(hostSetEffectiveContext(contextID))
	if err == nil {
		active = contextID
	}
	return err
}

// PluginDone tells the host a plugin context that returned false from OnPluginDone has finished.
func PluginDone() { hostDone() }

// ---- shared queues and data ----

// RegisterSharedQueue creates (or opens) a shared queue owned by this VM ID.
func RegisterSharedQueue(name string) (queueID uint32, err error) {
	err = statusError(hostRegisterSharedQueue(stringPtr(name), uint32(len(name)), unsafe.Pointer(&retU32)))
	return retU32, err
}

// ResolveSharedQueue finds a queue registered under another VM ID.
func ResolveSharedQueue(vmID, queueName string) (queueID uint32, err error) {
	err = statusError(hostResolveSharedQueue(stringPtr(vmID), uint32(len(vmID)), stringPtr(queueName), uint32(len(queueName)), unsafe.Pointer(&retU32)))
	return retU32, err
}

// EnqueueSharedQueue appends data to a shared queue.
func EnqueueSharedQueue(queueID uint32, data []byte) error {
	return statusError(hostEnqueueSharedQueue(queueID, bytesPtr(data), uint32(len(data))))
}

// DequeueSharedQueue removes and returns the oldest item of a shared queue.
func DequeueSharedQueue(queueID uint32) ([]byte, error) {
	if s := hostDequeueSharedQueue(queueID, unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return nil, failed(s)
	}
	return take(retData, retSize), nil
}

// GetSharedData returns a shared value and its compare-and-swap token.
func GetSharedData(key string) (value []byte, cas uint32, err error) {
	if s := hostGetSharedData(stringPtr(key), uint32(len(key)), unsafe.Pointer(&retData), unsafe.Pointer(&retSize), unsafe.Pointer(&retU32)); s != 0 {
		return nil, 0, failed(s)
	}
	b, ok := arenaTake(retData, retSize) // inlined, as in getMapValue
	if !ok {
		b = takeSlow(retData, retSize)
	}
	return b, retU32, nil
}

// SetSharedData stores a shared value; a non-zero cas must match the current token.
func SetSharedData(key string, data []byte, cas uint32) error {
	return statusError(hostSetSharedData(stringPtr(key), uint32(len(key)), bytesPtr(data), uint32(len(data)), cas))
}

// ---- HTTP calls ----

// DispatchHttpCall sends an HTTP request to a cluster; callBack runs when the response (or a failure) arrives.
func DispatchHttpCall(cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMillisecond uint32, callBack func(numHeaders, bodySize, numTrailers int)) (calloutID uint32, err error) {
	hs, ts := serializeMap(headers), serializeMap(trailers)
	err = statusError(hostHTTPCall(stringPtr(cluster), uint32(len(cluster)),
		bytesPtr(hs), uint32(len(hs)), bytesPtr(body), uint32(len(body)),
		bytesPtr(ts), uint32(len(ts)), timeoutMillisecond, unsafe.Pointer(&retU32)))
	if err != nil {
		return 0, err
	}
	calloutID = retU32
	rootID := active
	if e := contexts.get(active); e != nil && e.kind != kindRoot {
		rootID = e.root
	}
	r := root(rootID)
	if r == nil {
		return 0, fmt.Errorf("DispatchHttpCall: no plugin context for context %d", active)
	}
	r.callout[calloutID] = callout{contextID: active, fn: callBack}
	return calloutID, nil
}

// GetHttpCallResponseHeaders returns all HTTP call response headers.
func GetHttpCallResponseHeaders() ([][2]string, error) { return getMap(mapCallResponseHeaders) }

// GetHttpCallResponseBody returns the HTTP call response body.
func GetHttpCallResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(bufCallResponseBody, start, maxSize)
}

// GetHttpCallResponseTrailers returns all HTTP call response trailers.
func GetHttpCallResponseTrailers() ([][2]string, error) { return getMap(mapCallResponseTrailer) }

// ---- TCP data (nicrt's hosts run HTTP filters; these answer what the host says) ----

// GetDownstreamData returns the buffered downstream TCP data.
func GetDownstreamData(start, maxSize int) ([]byte, error) {
	return getBuffer(bufDownstreamData, start, maxSize)
}

// AppendDownstreamData appends to the buffered downstream TCP data.
func AppendDownstreamData(data []byte) error { return setBuffer(bufDownstreamData, 1<<31, 0, data) }

// PrependDownstreamData prepends to the buffered downstream TCP data.
func PrependDownstreamData(data []byte) error { return setBuffer(bufDownstreamData, 0, 0, data) }

// ReplaceDownstreamData replaces the buffered downstream TCP data.
func ReplaceDownstreamData(data []byte) error {
	return setBuffer(bufDownstreamData, 0, 1<<31, data)
}

// GetUpstreamData returns the buffered upstream TCP data.
func GetUpstreamData(start, maxSize int) ([]byte, error) {
	return getBuffer(bufUpstreamData, start, maxSize)
}

// AppendUpstreamData appends to the buffered upstream TCP data.
func AppendUpstreamData(data []byte) error { return setBuffer(bufUpstreamData, 1<<31, 0, data) }

// PrependUpstreamData prepends to the buffered upstream TCP data.
func PrependUpstreamData(data []byte) error { return setBuffer(bufUpstreamData, 0, 0, data) }

// ReplaceUpstreamData replaces the buffered upstream TCP data.
func ReplaceUpstreamData(data []byte) error { return setBuffer(bufUpstreamData, 0, 1<<31, data) }

// ContinueTcpStream resumes a paused TCP stream.
func ContinueTcpStream() error { return statusError(hostContinueStream(streamDownstream)) }

// CloseDownstream closes the downstream TCP connection.
func CloseDownstream() error { return statusError(hostCloseStream(streamDownstream)) }

// CloseUpstream closes the upstream TCP connection.
func CloseUpstream() error { return statusError(hostCloseStream(streamUpstream)) }

// ---- HTTP request ----

// GetHttpRequestHeaders returns all request headers.
func GetHttpRequestHeaders() ([][2]string, error) { return getMap(mapRequestHeaders) }

// ReplaceHttpRequestHeaders replaces all request headers.
func ReplaceHttpRequestHeaders(headers [][2]string) error { return setMap(mapRequestHeaders, headers) }

// GetHttpRequestHeader returns one request header.
//
// It is getMapValue written out rather than a call of it: filters that take
// it as a function value (route and fault, through istio.HeaderFunc) call
// it indirectly, so the compiler cannot inline it, and the extra call layer
// cost ~120 wasm instructions per header read. Filters that call it
// directly pay one call either way.
func GetHttpRequestHeader(key string) (string, error) {
	if s := hostGetHeaderMapValue(mapRequestHeaders, unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)), unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return "", failed(s)
	}
	b, ok := arenaTake(retData, retSize)
	if !ok {
		b = takeSlow(retData, retSize)
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// RemoveHttpRequestHeader removes one request header.
func RemoveHttpRequestHeader(key string) error { return removeMapValue(mapRequestHeaders, key) }

// ReplaceHttpRequestHeader replaces one request header.
func ReplaceHttpRequestHeader(key, value string) error {
	return replaceMapValue(mapRequestHeaders, key, value)
}

// AddHttpRequestHeader adds one request header.
func AddHttpRequestHeader(key, value string) error { return addMapValue(mapRequestHeaders, key, value) }

// GetHttpRequestBody returns the request body.
func GetHttpRequestBody(start, maxSize int) ([]byte, error) {
	return getBuffer(bufRequestBody, start, maxSize)
}

// AppendHttpRequestBody appends to the request body.
func AppendHttpRequestBody(data []byte) error { return setBuffer(bufRequestBody, 1<<31, 0, data) }

// PrependHttpRequestBody prepends to the request body.
func PrependHttpRequestBody(data []byte) error { return setBuffer(bufRequestBody, 0, 0, data) }

// ReplaceHttpRequestBody replaces the request body.
func ReplaceHttpRequestBody(data []byte) error { return setBuffer(bufRequestBody, 0, 1<<31, data) }

// GetHttpRequestTrailers returns all request trailers.
func GetHttpRequestTrailers() ([][2]string, error) { return getMap(mapRequestTrailers) }

// ReplaceHttpRequestTrailers replaces all request trailers.
func ReplaceHttpRequestTrailers(trailers [][2]string) error {
	return setMap(mapRequestTrailers, trailers)
}

// GetHttpRequestTrailer returns one request trailer.
func GetHttpRequestTrailer(key string) (string, error) { return getMapValue(mapRequestTrailers, key) }

// RemoveHttpRequestTrailer removes one request trailer.
func RemoveHttpRequestTrailer(key string) error { return removeMapValue(mapRequestTrailers, key) }

// ReplaceHttpRequestTrailer replaces one request trailer.
func ReplaceHttpRequestTrailer(key, value string) error {
	return replaceMapValue(mapRequestTrailers, key, value)
}

// AddHttpRequestTrailer adds one request trailer.
func AddHttpRequestTrailer(key, value string) error {
	return addMapValue(mapRequestTrailers, key, value)
}

// ResumeHttpRequest continues the paused HTTP request (proxy_continue_stream).
func ResumeHttpRequest() error { return statusError(hostContinueStream(streamRequest)) }

// ---- HTTP response ----

// GetHttpResponseHeaders returns all response headers.
func GetHttpResponseHeaders() ([][2]string, error) { return getMap(mapResponseHeaders) }

// ReplaceHttpResponseHeaders replaces all response headers.
func ReplaceHttpResponseHeaders(headers [][2]string) error {
	return setMap(mapResponseHeaders, headers)
}

// GetHttpResponseHeader returns one response header.
func GetHttpResponseHeader(key string) (string, error) { return getMapValue(mapResponseHeaders, key) }

// RemoveHttpResponseHeader removes one response header.
func RemoveHttpResponseHeader(key string) error { return removeMapValue(mapResponseHeaders, key) }

// ReplaceHttpResponseHeader replaces one response header.
func ReplaceHttpResponseHeader(key, value string) error {
	return replaceMapValue(mapResponseHeaders, key, value)
}

// AddHttpResponseHeader adds one response header.
func AddHttpResponseHeader(key, value string) error {
	return addMapValue(mapResponseHeaders, key, value)
}

// GetHttpResponseBody returns the response body.
func GetHttpResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(bufResponseBody, start, maxSize)
}

// AppendHttpResponseBody appends to the response body.
func AppendHttpResponseBody(data []byte) error { return setBuffer(bufResponseBody, 1<<31, 0, data) }

// PrependHttpResponseBody prepends to the response body.
func PrependHttpResponseBody(data []byte) error { return setBuffer(bufResponseBody, 0, 0, data) }

// ReplaceHttpResponseBody replaces the response body.
func ReplaceHttpResponseBody(data []byte) error { return setBuffer(bufResponseBody, 0, 1<<31, data) }

// GetHttpResponseTrailers returns all response trailers.
func GetHttpResponseTrailers() ([][2]string, error) { return getMap(mapResponseTrailers) }

// ReplaceHttpResponseTrailers replaces all response trailers.
func ReplaceHttpResponseTrailers(trailers [][2]string) error {
	return setMap(mapResponseTrailers, trailers)
}

// GetHttpResponseTrailer returns one response trailer.
func GetHttpResponseTrailer(key string) (string, error) {
	return getMapValue(mapResponseTrailers, key)
}

// RemoveHttpResponseTrailer removes one response trailer.
func RemoveHttpResponseTrailer(key string) error { return removeMapValue(mapResponseTrailers, key) }

// ReplaceHttpResponseTrailer replaces one response trailer.
func ReplaceHttpResponseTrailer(key, value string) error {
	return replaceMapValue(mapResponseTrailers, key, value)
}

// AddHttpResponseTrailer adds one response trailer.
func AddHttpResponseTrailer(key, value string) error {
	return addMapValue(mapResponseTrailers, key, value)
}

// ResumeHttpResponse continues the paused HTTP response (proxy_continue_stream).
func ResumeHttpResponse() error { return statusError(hostContinueStream(streamResponse)) }

// SendHttpResponse answers the request locally instead of forwarding it.
// Return types.ActionPause from the callback afterwards.
func SendHttpResponse(statusCode uint32, headers [][2]string, body []byte, gRPCStatus int32) error {
	hs := serializeMap(headers)
	return statusError(hostSendLocalResponse(statusCode, nil, 0, bytesPtr(body), uint32(len(body)), bytesPtr(hs), uint32(len(hs)), gRPCStatus))
}

// ---- properties and foreign functions ----

// GetProperty returns the host property at path.
func GetProperty(path []string) ([]byte, error) {
	if len(path) == 0 {
		return nil, errors.New("path must not be empty")
	}
	raw := serializePath(path)
	if s := hostGetProperty(bytesPtr(raw), uint32(len(raw)), unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return nil, failed(s)
	}
	return take(retData, retSize), nil
}

// GetPropertyMap returns a map-valued host property at path.
func GetPropertyMap(path []string) ([][2]string, error) {
	b, err := GetProperty(path)
	if err != nil {
		return nil, err
	}
	return deserializeMap(b), nil
}

// SetProperty sets a filter-owned host property.
func SetProperty(path []string, data []byte) error {
	if len(path) == 0 {
		return errors.New("path must not be empty")
	}
	raw := serializePath(path)
	return statusError(hostSetProperty(bytesPtr(raw), uint32(len(raw)), bytesPtr(data), uint32(len(data))))
}

// CallForeignFunction calls a function the host registered under funcName.
func CallForeignFunction(funcName string, param []byte) (ret []byte, err error) {
	if s := hostCallForeignFunction(stringPtr(funcName), uint32(len(funcName)), bytesPtr(param), uint32(len(param)), unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return nil, failed(s)
	}
	return take(retData, retSize), nil
}

// ---- helpers ----

func getBuffer(bt uint32, start, maxSize int) ([]byte, error) {
	if start < 0 || maxSize < 0 {
		return nil, types.ErrorStatusBadArgument
	}
	if s := hostGetBufferBytes(bt, uint32(start), uint32(min(maxSize, 1<<31)), unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return nil, failed(s)
	}
	return take(retData, retSize), nil
}

func setBuffer(bt, start, size uint32, data []byte) error {
	return statusError(hostSetBufferBytes(bt, start, size, bytesPtr(data), uint32(len(data))))
}

func getMap(mt uint32) ([][2]string, error) {
	if s := hostGetHeaderMapPairs(mt, unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return nil, failed(s)
	}
	return deserializeMap(take(retData, retSize)), nil
}

func setMap(mt uint32, pairs [][2]string) error {
	b := serializeMap(pairs)
	return statusError(hostSetHeaderMapPairs(mt, bytesPtr(b), uint32(len(b))))
}

// getMapValue is small enough for the compiler to inline into the
// Get*Header functions, so a header read is one Go call fewer.
func getMapValue(mt uint32, key string) (string, error) {
	if s := hostGetHeaderMapValue(mt, unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)), unsafe.Pointer(&retData), unsafe.Pointer(&retSize)); s != 0 {
		return "", failed(s)
	}
	b, ok := arenaTake(retData, retSize) // inlined: a header read is one call fewer
	if !ok {
		b = takeSlow(retData, retSize)
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// failed is the error path of a data-returning host call: it drops any
// allocation the host made and maps the status.
//
//go:noinline
func failed(s uint32) error {
	unpin()
	return statusErrorSlow(s)
}

func addMapValue(mt uint32, key, value string) error {
	return statusError(hostAddHeaderMapValue(mt, stringPtr(key), uint32(len(key)), stringPtr(value), uint32(len(value))))
}

func replaceMapValue(mt uint32, key, value string) error {
	return statusError(hostReplaceHeaderMapValue(mt, stringPtr(key), uint32(len(key)), stringPtr(value), uint32(len(value))))
}

func removeMapValue(mt uint32, key string) error {
	return statusError(hostRemoveHeaderMapValue(mt, stringPtr(key), uint32(len(key))))
}

// ---- logging ----

func logAt(level uint32, msg string) { hostLog(level, stringPtr(msg), uint32(len(msg))) }

// LogTrace logs a message at trace level.
func LogTrace(msg string) { logAt(0, msg) }

// LogTracef logs a formatted message at trace level.
func LogTracef(format string, args ...any) { logfAt(0, format, args...) }

// LogDebug logs a message at debug level.
func LogDebug(msg string) { logAt(1, msg) }

// LogDebugf logs a formatted message at debug level.
func LogDebugf(format string, args ...any) { logfAt(1, format, args...) }

// LogInfo logs a message at info level.
func LogInfo(msg string) { logAt(2, msg) }

// LogInfof logs a formatted message at info level.
func LogInfof(format string, args ...any) { logfAt(2, format, args...) }

// LogWarn logs a message at warn level.
func LogWarn(msg string) { logAt(3, msg) }

// LogWarnf logs a formatted message at warn level.
func LogWarnf(format string, args ...any) { logfAt(3, format, args...) }

// LogError logs a message at error level.
func LogError(msg string) { logAt(4, msg) }

// LogErrorf logs a formatted message at error level.
func LogErrorf(format string, args ...any) { logfAt(4, format, args...) }

// LogCritical logs a message at critical level.
func LogCritical(msg string) { logAt(5, msg) }

// LogCriticalf logs a formatted message at critical level.
func LogCriticalf(format string, args ...any) { logfAt(5, format, args...) }

// logLevel caches the host's level so disabled Logf calls skip formatting.
var logLevel = ^uint32(0)

func logfAt(level uint32, format string, args ...any) {
	if logLevel == ^uint32(0) {
		if hostGetLogLevel(unsafe.Pointer(&retU32)) == 0 {
			logLevel = retU32
		} else {
			logLevel = 0
		}
	}
	if level < logLevel {
		return
	}
	logAt(level, fmt.Sprintf(format, args...))
}

// ---- metrics ----

// MetricCounter is a monotonically increasing metric.
type MetricCounter uint32

// MetricGauge is a metric that can go up and down.
type MetricGauge uint32

// MetricHistogram is a metric that records a distribution of values.
type MetricHistogram uint32

func defineMetric(t uint32, name string) uint32 {
	if s := hostDefineMetric(t, stringPtr(name), uint32(len(name)), unsafe.Pointer(&retU32)); s != 0 {
		LogCriticalf("define metric %q: %v", name, statusError(s))
		return 0
	}
	return retU32
}

// DefineCounterMetric defines (or finds) a counter metric by name.
func DefineCounterMetric(name string) MetricCounter {
	return MetricCounter(defineMetric(metricCounter, name))
}

// DefineGaugeMetric defines (or finds) a gauge metric by name.
func DefineGaugeMetric(name string) MetricGauge { return MetricGauge(defineMetric(metricGauge, name)) }

// DefineHistogramMetric defines (or finds) a histogram metric by name.
func DefineHistogramMetric(name string) MetricHistogram {
	return MetricHistogram(defineMetric(metricHistogram, name))
}

func metricValue(id uint32) uint64 {
	retU64 = 0
	hostGetMetric(id, unsafe.Pointer(&retU64))
	return retU64
}

// Value returns the counter's current value.
func (m MetricCounter) Value() uint64 { return metricValue(uint32(m)) }

// Increment adds offset to the counter.
func (m MetricCounter) Increment(offset uint64) { hostIncrementMetric(uint32(m), int64(offset)) }

// Value returns the gauge's current value.
func (m MetricGauge) Value() int64 { return int64(metricValue(uint32(m))) }

// Add adds offset (which may be negative) to the gauge.
func (m MetricGauge) Add(offset int64) { hostIncrementMetric(uint32(m), offset) }

// Value returns what the host reports for the histogram.
func (m MetricHistogram) Value() uint64 { return metricValue(uint32(m)) }

// Record adds one observation to the histogram.
func (m MetricHistogram) Record(value uint64) { hostRecordMetric(uint32(m), value) }
