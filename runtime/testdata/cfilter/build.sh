#!/bin/sh
# Builds the C Proxy-Wasm test guest with Debian's clang, wasi-libc and lld
# (installed by .ci/install-deps) as a WASI reactor: _initialize runs the C
# constructors, then the host calls the exported proxy_on_* callbacks.
#
# usage: build.sh [OUT.wasm]   (default: filter.wasm next to this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/filter.wasm}
CC=${CC:-clang}
exec "$CC" --target=wasm32-wasi -mexec-model=reactor \
	-O2 -g0 -std=c11 -Wall -Wextra -Werror \
	-Wl,--strip-debug \
	-o "$out" "$here/filter.c"
