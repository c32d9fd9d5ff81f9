package main

import (
	"fmt"
	"os"
	"strings"
)

// readArg returns s, or the contents of the file s names when it starts with
// '@' (curl's convention, used by --config and --body).
func readArg(s string) ([]byte, error) {
	if strings.HasPrefix(s, "@") {
		b, err := os.ReadFile(s[1:])
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", s[1:], err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// readWasm reads a module file with an error that says which file.
func readWasm(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	return b, nil
}

// cacheDir is where CLI commands keep compiled modules between runs, so a
// second `nicrt run` of the same filter skips the compile. NICRT_CACHE_DIR
// overrides it; "off" disables the on-disk cache.
func cacheDir() string {
	if d := os.Getenv("NICRT_CACHE_DIR"); d != "" {
		if d == "off" {
			return ""
		}
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return d + "/nicrt/wazero"
}
