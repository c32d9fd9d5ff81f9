package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/pflag"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print nicrt's version and the Go toolchain that built it",
		run: func(_ *pflag.FlagSet, args []string) error {
			if len(args) != 0 {
				return usagef("version takes no arguments")
			}
			fmt.Println(versionString())
			return nil
		},
	})
}

// versionString names the module version (or the VCS revision of a source
// build) and the Go version, for reports that must say what produced them.
func versionString() string {
	v, goV := "devel", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goV = bi.GoVersion
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("nicrt %s (%s)", v, goV)
}
