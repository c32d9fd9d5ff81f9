// Package proxywasm is the guest-side API nicrt's filters are written against.
//
// Its exported names and signatures are those of the proxywasm package of
// github.com/tetratelabs/proxy-wasm-go-sdk, and filters implement that SDK's
// types interfaces, so a filter reads exactly like an SDK filter. What sits
// behind the names depends on the build:
//
//   - GOOS=wasip1 (the .wasm a host loads): nicrt's own //go:wasmexport and
//     //go:wasmimport glue, written from the Proxy-Wasm ABI v0.2.1
//     specification. The SDK's own glue needs TinyGo; this one builds with
//     stock Go (-buildmode=c-shared).
//   - any other GOOS (go test on the developer's machine): every call is
//     forwarded to the SDK's proxywasm package, so the SDK's proxytest host
//     emulator drives filters in ordinary unit tests.
package proxywasm
