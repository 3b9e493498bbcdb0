package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrHelp is returned by Load for -h/--help; main prints Usage() and exits 0.
var ErrHelp = errors.New("help requested")

// Reasons carried in KeyError.Err; compare with errors.Is.
var (
	ErrNotInteger  = errors.New("not an integer")
	ErrNotFloat    = errors.New("not a finite number >= 0")
	ErrNegative    = errors.New("must not be negative")
	ErrTooLarge    = errors.New("too large")
	ErrPortRange   = errors.New("not a port number (0-65535)")
	ErrNotBool     = errors.New(`not a boolean (use True or False; Odoo would read any other non-empty text as True)`)
	ErrChoice      = errors.New("not an accepted value")
	ErrUnknownFlag = errors.New("unknown flag")
	ErrFlagValue   = errors.New("flag needs a value")
	ErrFlagNoValue = errors.New("flag takes no value")
	ErrSyntax      = errors.New(`not a "key = value" line, a [section] header or a comment`)
	ErrNoSection   = errors.New("key before the first [section] header")
)

// KeyError is every error Load returns (except ErrHelp): one bad setting,
// named by where it came from, its key and its raw value. Error() is always
// one line; main exits 2 on it.
//
//	odoo.conf [options] db_port = "abc": not an integer (/etc/odoo/odoo.conf:7)
//	env ODOOBUS_DB_PORT = "abc": not an integer
//	flag --db_port = "abc": not an integer
type KeyError struct {
	Source string // "odoo.conf [options]", "odoo.conf", "env", "flag"
	Key    string // odoo.conf key, environment variable or flag as written; "" for a whole line
	Value  string // the raw value (a db_password value is never kept)
	File   string // odoo.conf path, when the error is in the file
	Line   int    // 1-based line in File, 0 when unknown
	Err    error

	noValue bool // the error is about the key itself (unknown flag, missing value)
}

func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Key != "" {
		b.WriteString(" " + e.Key)
	}
	switch {
	case e.noValue:
	case e.Key != "":
		fmt.Fprintf(&b, " = %q", e.Value)
	default:
		fmt.Fprintf(&b, " %q", e.Value)
	}
	if e.Err != nil {
		b.WriteString(": " + oneLine(e.Err.Error()))
	}
	if e.File != "" {
		if e.Line > 0 {
			fmt.Fprintf(&b, " (%s:%d)", e.File, e.Line)
		} else {
			fmt.Fprintf(&b, " (%s)", e.File)
		}
	}
	return b.String()
}

func (e *KeyError) Unwrap() error { return e.Err }

// oneLine keeps wrapped OS errors on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// redactLine hides a whole file line that may hold a password, for syntax
// errors where the line could not be split into key and value.
func redactLine(line string) string {
	if strings.Contains(strings.ToLower(line), "passw") {
		return "<line hidden: may contain a password>"
	}
	if len(line) > 80 {
		return line[:80] + "…"
	}
	return line
}
