//go:build !wasip1

package proxywasm

// This file forwards every call to the SDK so that native unit tests run the
// filters under proxytest. See doc.go.

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// MetricCounter is a monotonically increasing metric.
type MetricCounter = proxywasm.MetricCounter

// MetricGauge is a metric that can go up and down.
type MetricGauge = proxywasm.MetricGauge

// MetricHistogram is a metric that records a distribution of values.
type MetricHistogram = proxywasm.MetricHistogram

// GetVMConfiguration returns the VM configuration; valid in OnVMStart.
func GetVMConfiguration() ([]byte, error) {
	return proxywasm.GetVMConfiguration()
}

// GetPluginConfiguration returns the plugin configuration; valid in OnPluginStart.
func GetPluginConfiguration() ([]byte, error) {
	return proxywasm.GetPluginConfiguration()
}

// SetTickPeriodMilliSeconds asks the host to call OnTick every millSec milliseconds (0 stops it).
func SetTickPeriodMilliSeconds(millSec uint32) error {
	return proxywasm.SetTickPeriodMilliSeconds(millSec)
}

// SetEffectiveContext makes later host calls act on the given context.
func SetEffectiveContext(contextID uint32) error {
	return proxywasm.SetEffectiveContext(contextID)
}

// RegisterSharedQueue creates (or opens) a shared queue owned by this VM ID.
func RegisterSharedQueue(name string) (queueID uint32, err error) {
	return proxywasm.RegisterSharedQueue(name)
}

// ResolveSharedQueue finds a queue registered under another VM ID.
func ResolveSharedQueue(vmID, queueName string) (queueID uint32, err error) {
	return proxywasm.ResolveSharedQueue(vmID, queueName)
}

// EnqueueSharedQueue appends data to a shared queue.
func EnqueueSharedQueue(queueID uint32, data []byte) error {
	return proxywasm.EnqueueSharedQueue(queueID, data)
}

// DequeueSharedQueue removes and returns the oldest item of a shared queue.
func DequeueSharedQueue(queueID uint32) ([]byte, error) {
	return proxywasm.DequeueSharedQueue(queueID)
}

// PluginDone tells the host a plugin context that returned false from OnPluginDone has finished.
func PluginDone() {
	proxywasm.PluginDone()
}

// DispatchHttpCall sends an HTTP request to a cluster; callBack runs when the response (or a failure) arrives.
func DispatchHttpCall(cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMillisecond uint32, callBack func(numHeaders, bodySize, numTrailers int)) (calloutID uint32, err error) {
	return proxywasm.DispatchHttpCall(cluster, headers, body, trailers, timeoutMillisecond, callBack)
}

// GetHttpCallResponseHeaders returns all HTTP call response headers.
func GetHttpCallResponseHeaders() ([][2]string, error) {
	return proxywasm.GetHttpCallResponseHeaders()
}

// GetHttpCallResponseBody returns the HTTP call response body.
func GetHttpCallResponseBody(start, maxSize int) ([]byte, error) {
	return proxywasm.GetHttpCallResponseBody(start, maxSize)
}

// GetHttpCallResponseTrailers returns all HTTP call response trailers.
func GetHttpCallResponseTrailers() ([][2]string, error) {
	return proxywasm.GetHttpCallResponseTrailers()
}

// GetDownstreamData returns the buffered downstream TCP data.
func GetDownstreamData(start, maxSize int) ([]byte, error) {
	return proxywasm.GetDownstreamData(start, maxSize)
}

// AppendDownstreamData appends to the buffered downstream TCP data.
func AppendDownstreamData(data []byte) error {
	return proxywasm.AppendDownstreamData(data)
}

// PrependDownstreamData prepends to the buffered downstream TCP data.
func PrependDownstreamData(data []byte) error {
	return proxywasm.PrependDownstreamData(data)
}

// ReplaceDownstreamData replaces the buffered downstream TCP data.
func ReplaceDownstreamData(data []byte) error {
	return proxywasm.ReplaceDownstreamData(data)
}

// GetUpstreamData returns the buffered upstream TCP data.
func GetUpstreamData(start, maxSize int) ([]byte, error) {
	return proxywasm.GetUpstreamData(start, maxSize)
}

// AppendUpstreamData appends to the buffered upstream TCP data.
func AppendUpstreamData(data []byte) error {
	return proxywasm.AppendUpstreamData(data)
}

// PrependUpstreamData prepends to the buffered upstream TCP data.
func PrependUpstreamData(data []byte) error {
	return proxywasm.PrependUpstreamData(data)
}

// ReplaceUpstreamData replaces the buffered upstream TCP data.
func ReplaceUpstreamData(data []byte) error {
	return proxywasm.ReplaceUpstreamData(data)
}

// ContinueTcpStream resumes a paused TCP stream.
func ContinueTcpStream() error {
	return proxywasm.ContinueTcpStream()
}

// CloseDownstream closes the downstream TCP connection.
func CloseDownstream() error {
	return proxywasm.CloseDownstream()
}

// CloseUpstream closes the upstream TCP connection.
func CloseUpstream() error {
	return proxywasm.CloseUpstream()
}

// GetHttpRequestHeaders returns all request headers.
func GetHttpRequestHeaders() ([][2]string, error) {
	return proxywasm.GetHttpRequestHeaders()
}

// ReplaceHttpRequestHeaders replaces all request headers.
func ReplaceHttpRequestHeaders(headers [][2]string) error {
	return proxywasm.ReplaceHttpRequestHeaders(headers)
}

// GetHttpRequestHeader returns one request header.
func GetHttpRequestHeader(key string) (string, error) {
	return proxywasm.GetHttpRequestHeader(key)
}

// RemoveHttpRequestHeader removes one request header.
func RemoveHttpRequestHeader(key string) error {
	return proxywasm.RemoveHttpRequestHeader(key)
}

// ReplaceHttpRequestHeader replaces one request header.
func ReplaceHttpRequestHeader(key, value string) error {
	return proxywasm.ReplaceHttpRequestHeader(key, value)
}

// AddHttpRequestHeader adds one request header.
func AddHttpRequestHeader(key, value string) error {
	return proxywasm.AddHttpRequestHeader(key, value)
}

// GetHttpRequestBody returns the request body.
func GetHttpRequestBody(start, maxSize int) ([]byte, error) {
	return proxywasm.GetHttpRequestBody(start, maxSize)
}

// AppendHttpRequestBody appends to the request body.
func AppendHttpRequestBody(data []byte) error {
	return proxywasm.AppendHttpRequestBody(data)
}

// PrependHttpRequestBody prepends to the request body.
func PrependHttpRequestBody(data []byte) error {
	return proxywasm.PrependHttpRequestBody(data)
}

// ReplaceHttpRequestBody replaces the request body.
func ReplaceHttpRequestBody(data []byte) error {
	return proxywasm.ReplaceHttpRequestBody(data)
}

// GetHttpRequestTrailers returns all request trailers.
func GetHttpRequestTrailers() ([][2]string, error) {
	return proxywasm.GetHttpRequestTrailers()
}

// ReplaceHttpRequestTrailers replaces all request trailers.
func ReplaceHttpRequestTrailers(trailers [][2]string) error {
	return proxywasm.ReplaceHttpRequestTrailers(trailers)
}

// GetHttpRequestTrailer returns one request trailer.
func GetHttpRequestTrailer(key string) (string, error) {
	return proxywasm.GetHttpRequestTrailer(key)
}

// RemoveHttpRequestTrailer removes one request trailer.
func RemoveHttpRequestTrailer(key string) error {
	return proxywasm.RemoveHttpRequestTrailer(key)
}

// ReplaceHttpRequestTrailer replaces one request trailer.
func ReplaceHttpRequestTrailer(key, value string) error {
	return proxywasm.ReplaceHttpRequestTrailer(key, value)
}

// AddHttpRequestTrailer adds one request trailer.
func AddHttpRequestTrailer(key, value string) error {
	return proxywasm.AddHttpRequestTrailer(key, value)
}

// ResumeHttpRequest continues the paused HTTP request (proxy_continue_stream).
func ResumeHttpRequest() error {
	return proxywasm.ResumeHttpRequest()
}

// GetHttpResponseHeaders returns all response headers.
func GetHttpResponseHeaders() ([][2]string, error) {
	return proxywasm.GetHttpResponseHeaders()
}

// ReplaceHttpResponseHeaders replaces all response headers.
func ReplaceHttpResponseHeaders(headers [][2]string) error {
	return proxywasm.ReplaceHttpResponseHeaders(headers)
}

// GetHttpResponseHeader returns one response header.
func GetHttpResponseHeader(key string) (string, error) {
	return proxywasm.GetHttpResponseHeader(key)
}

// RemoveHttpResponseHeader removes one response header.
func RemoveHttpResponseHeader(key string) error {
	return proxywasm.RemoveHttpResponseHeader(key)
}

// ReplaceHttpResponseHeader replaces one response header.
func ReplaceHttpResponseHeader(key, value string) error {
	return proxywasm.ReplaceHttpResponseHeader(key, value)
}

// AddHttpResponseHeader adds one response header.
func AddHttpResponseHeader(key, value string) error {
	return proxywasm.AddHttpResponseHeader(key, value)
}

// GetHttpResponseBody returns the response body.
func GetHttpResponseBody(start, maxSize int) ([]byte, error) {
	return proxywasm.GetHttpResponseBody(start, maxSize)
}

// AppendHttpResponseBody appends to the response body.
func AppendHttpResponseBody(data []byte) error {
	return proxywasm.AppendHttpResponseBody(data)
}

// PrependHttpResponseBody prepends to the response body.
func PrependHttpResponseBody(data []byte) error {
	return proxywasm.PrependHttpResponseBody(data)
}

// ReplaceHttpResponseBody replaces the response body.
func ReplaceHttpResponseBody(data []byte) error {
	return proxywasm.ReplaceHttpResponseBody(data)
}

// GetHttpResponseTrailers returns all response trailers.
func GetHttpResponseTrailers() ([][2]string, error) {
	return proxywasm.GetHttpResponseTrailers()
}

// ReplaceHttpResponseTrailers replaces all response trailers.
func ReplaceHttpResponseTrailers(trailers [][2]string) error {
	return proxywasm.ReplaceHttpResponseTrailers(trailers)
}

// GetHttpResponseTrailer returns one response trailer.
func GetHttpResponseTrailer(key string) (string, error) {
	return proxywasm.GetHttpResponseTrailer(key)
}

// RemoveHttpResponseTrailer removes one response trailer.
func RemoveHttpResponseTrailer(key string) error {
	return proxywasm.RemoveHttpResponseTrailer(key)
}

// ReplaceHttpResponseTrailer replaces one response trailer.
func ReplaceHttpResponseTrailer(key, value string) error {
	return proxywasm.ReplaceHttpResponseTrailer(key, value)
}

// AddHttpResponseTrailer adds one response trailer.
func AddHttpResponseTrailer(key, value string) error {
	return proxywasm.AddHttpResponseTrailer(key, value)
}

// ResumeHttpResponse continues the paused HTTP response (proxy_continue_stream).
func ResumeHttpResponse() error {
	return proxywasm.ResumeHttpResponse()
}

// SendHttpResponse answers the request locally instead of forwarding it.
func SendHttpResponse(statusCode uint32, headers [][2]string, body []byte, gRPCStatus int32) error {
	return proxywasm.SendHttpResponse(statusCode, headers, body, gRPCStatus)
}

// GetSharedData returns a shared value and its compare-and-swap token.
func GetSharedData(key string) (value []byte, cas uint32, err error) {
	return proxywasm.GetSharedData(key)
}

// SetSharedData stores a shared value; a non-zero cas must match the current token.
func SetSharedData(key string, data []byte, cas uint32) error {
	return proxywasm.SetSharedData(key, data, cas)
}

// GetProperty returns the host property at path.
func GetProperty(path []string) ([]byte, error) {
	return proxywasm.GetProperty(path)
}

// GetPropertyMap returns a map-valued host property at path.
func GetPropertyMap(path []string) ([][2]string, error) {
	return proxywasm.GetPropertyMap(path)
}

// SetProperty sets a filter-owned host property.
func SetProperty(path []string, data []byte) error {
	return proxywasm.SetProperty(path, data)
}

// CallForeignFunction calls a function the host registered under funcName.
func CallForeignFunction(funcName string, param []byte) (ret []byte, err error) {
	return proxywasm.CallForeignFunction(funcName, param)
}

// LogTrace logs a message at trace level.
func LogTrace(msg string) {
	proxywasm.LogTrace(msg)
}

// LogTracef logs a formatted message at trace level.
func LogTracef(format string, args ...any) {
	proxywasm.LogTracef(format, args...)
}

// LogDebug logs a message at debug level.
func LogDebug(msg string) {
	proxywasm.LogDebug(msg)
}

// LogDebugf logs a formatted message at debug level.
func LogDebugf(format string, args ...any) {
	proxywasm.LogDebugf(format, args...)
}

// LogInfo logs a message at info level.
func LogInfo(msg string) {
	proxywasm.LogInfo(msg)
}

// LogInfof logs a formatted message at info level.
func LogInfof(format string, args ...any) {
	proxywasm.LogInfof(format, args...)
}

// LogWarn logs a message at warn level.
func LogWarn(msg string) {
	proxywasm.LogWarn(msg)
}

// LogWarnf logs a formatted message at warn level.
func LogWarnf(format string, args ...any) {
	proxywasm.LogWarnf(format, args...)
}

// LogError logs a message at error level.
func LogError(msg string) {
	proxywasm.LogError(msg)
}

// LogErrorf logs a formatted message at error level.
func LogErrorf(format string, args ...any) {
	proxywasm.LogErrorf(format, args...)
}

// LogCritical logs a message at critical level.
func LogCritical(msg string) {
	proxywasm.LogCritical(msg)
}

// LogCriticalf logs a formatted message at critical level.
func LogCriticalf(format string, args ...any) {
	proxywasm.LogCriticalf(format, args...)
}

// DefineCounterMetric defines (or finds) a counter metric by name.
func DefineCounterMetric(name string) MetricCounter {
	return proxywasm.DefineCounterMetric(name)
}

// DefineGaugeMetric defines (or finds) a gauge metric by name.
func DefineGaugeMetric(name string) MetricGauge {
	return proxywasm.DefineGaugeMetric(name)
}

// DefineHistogramMetric defines (or finds) a histogram metric by name.
func DefineHistogramMetric(name string) MetricHistogram {
	return proxywasm.DefineHistogramMetric(name)
}

// SetVMContext installs the filter's VM context; call it from main or init.
func SetVMContext(ctx types.VMContext) {
	proxywasm.SetVMContext(ctx)
}
