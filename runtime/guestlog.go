package runtime

import (
	"context"
	"crypto/rand"
	"log/slog"
)

// guestLogBytes logs a message a guest passed by pointer, converting it to a
// string only when someone will read it.
func (v *vm) guestLogBytes(level LogLevel, msg []byte) {
	if v.startLog == nil && (level < v.p.host.cfg.LogLevel || !v.p.host.log.Enabled(context.Background(), level.slog())) {
		return
	}
	v.guestLog(level, string(msg))
}

// guestLog passes one guest log line to the host logger, tagged with the
// plugin, and keeps it during start-up so a failed load can show it.
func (v *vm) guestLog(level LogLevel, msg string) {
	if v.startLog != nil {
		v.startLog.add("[" + level.String() + "] " + msg)
	}
	if level < v.p.host.cfg.LogLevel {
		return
	}
	v.p.host.log.LogAttrs(context.Background(), level.slog(), msg,
		slog.String("plugin", v.p.cfg.Name), slog.Int("vm", v.slot))
}

// cryptoRand is WASI random_get's source: guests seed their PRNGs and
// hash tables from it, so it must not be wazero's fixed test source.
type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return rand.Read(b) }
