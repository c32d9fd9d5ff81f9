//go:build wasm || amd64 || arm64 || 386 || ppc64le || s390x

package fasteq

// wordLoads says the target loads unaligned words directly, so Equal may
// read the strings a word at a time.
const wordLoads = true
