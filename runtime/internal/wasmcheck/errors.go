package wasmcheck

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error Check returns for bytes that are not
// a well-formed WebAssembly binary module, so callers can tell them from
// modules that are well formed but too large (ErrLimit) with errors.Is.
var ErrMalformed = errors.New("malformed module")

// ErrLimit is wrapped by the errors Check returns for modules that are well
// formed as far as Check looked but declare more than a stated limit allows
// (see MaxTypes and the other Max constants).
var ErrLimit = errors.New("module exceeds a limit")

// Error is the error Check returns: where in the module the problem is and
// what it is, so a user can find it with a hex dump. Its message reads
//
//	wasmcheck: import section at byte offset 10 (0xa): declares 4294967295 imports but only 0 bytes remain in the section (each needs at least 4)
//	wasmcheck: code section at byte offset 23 (0x17): code entry 0 (function 0): declares 50001 or more locals, more than the limit of 50000
//	wasmcheck: header at byte offset 4 (0x4): unsupported binary format version 0d 00 01 00 (want 01 00 00 00: a core module)
type Error struct {
	// Section names the part of the module: "header", "module", a section
	// ("type", "import", "function", "table", "memory", "global", "export",
	// "start", "element", "code", "data", "data count", "tag", "custom"),
	// or `custom "name"` for the name section.
	Section string
	// Offset is the byte offset in the module of the item at fault: the
	// number, entry or section header that is wrong.
	Offset int
	// Reason says what is wrong, naming the entry (e.g. "import 3: ...").
	Reason string
	// Limit is set when the module exceeds a limit rather than being
	// malformed; Unwrap then returns ErrLimit instead of ErrMalformed.
	Limit bool
}

// Error formats the problem as "wasmcheck: <where> at byte offset N (0xN): <reason>".
func (e *Error) Error() string {
	where := e.Section
	if where != "header" && where != "module" {
		where += " section"
	}
	return fmt.Sprintf("wasmcheck: %s at byte offset %d (0x%x): %s", where, e.Offset, e.Offset, e.Reason)
}

// Unwrap returns ErrLimit or ErrMalformed.
func (e *Error) Unwrap() error {
	if e.Limit {
		return ErrLimit
	}
	return ErrMalformed
}
