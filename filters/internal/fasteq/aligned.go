//go:build !(wasm || amd64 || arm64 || 386 || ppc64le || s390x)

package fasteq

// wordLoads is false where an unaligned word load may trap or be emulated:
// Equal is then ==.
const wordLoads = false
