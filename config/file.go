package config

// odoo.conf: where it is, how it is read, and the path rules Odoo applies to
// path options.
//
// Odoo reads the file with Python's configparser.RawConfigParser
// (odoo/tools/config.py configmanager.load, 8.0–17.0). gopkg.in/ini.v1 cannot
// be set up to read exactly what RawConfigParser reads: it always treats
// values starting with a backtick or """ as quoted (a db_password starting
// with ` makes it read to the end of the file), and with
// AllowPythonMultilineValues it makes every indented line a continuation (an
// indented "db_port = 5433" or "; comment" becomes part of the previous
// value) and ends a value at a blank line. So this file carries a small
// reader that follows Python 3's RawConfigParser._read line rules instead.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// optionsSection is the only section Odoo reads settings from; others go to
// config.misc (configmanager.load).
const optionsSection = "options"

// legacyKeys are renamed when read from the file (configmanager.load,
// outdated_options_map, 11.0+; 8.0–10.0 used the xmlrpc_* names themselves).
// xmlrpc → http_enable is not listed: odoobus does not read http_enable.
var legacyKeys = map[string]string{
	"xmlrpc_port":      "http_port",
	"xmlrpc_interface": "http_interface",
}

// findConfigFile picks the odoo.conf the way configmanager._parse_config
// does: -c/--config, else $ODOO_RC, else $OPENERP_SERVER, else ~/.odoorc, or
// ~/.openerp_serverrc when only that one exists (both present is an error in
// Odoo; odoobus only refuses it when it would have to pick between them).
func findConfigFile(flagPath string, getenv func(string) string) (path, origin string, err error) {
	switch {
	case flagPath != "":
		path, origin = flagPath, "flag -c/--config"
	case getenv("ODOO_RC") != "":
		path, origin = getenv("ODOO_RC"), "env ODOO_RC"
	case getenv("OPENERP_SERVER") != "":
		path, origin = getenv("OPENERP_SERVER"), "env OPENERP_SERVER"
	default:
		home := homeDir(getenv)
		path, origin = filepath.Join(home, ".odoorc"), "default ~/.odoorc"
		old := filepath.Join(home, ".openerp_serverrc")
		newExists, oldExists := isFile(path), isFile(old)
		if newExists && oldExists {
			return "", "", &KeyError{Source: "odoo.conf", Key: "~/.odoorc", Value: path,
				Err: errors.New("both ~/.odoorc and ~/.openerp_serverrc exist; keep only one (as Odoo requires) or pass -c")}
		}
		if oldExists {
			path, origin = old, "default ~/.openerp_serverrc"
		}
	}
	// The path is only made absolute, never ~-expanded (os.path.abspath).
	abs, aerr := filepath.Abs(path)
	if aerr == nil {
		path = abs
	}
	return path, origin, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// readConfigFile returns the file's bytes, or nil when Odoo would run on its
// defaults: a missing file named by ODOO_RC/OPENERP_SERVER/~ (RawConfigParser
// .read skips files it cannot open). A missing or unreadable -c file is an
// error, as in Odoo; a file that exists but cannot be read is an error
// whatever named it (Odoo would silently use its defaults).
func readConfigFile(path, origin string) (data []byte, note string, err error) {
	data, err = os.ReadFile(path)
	if err == nil {
		return data, "", nil
	}
	if errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(origin, "flag") {
		if strings.HasPrefix(origin, "default") {
			return nil, "", nil
		}
		return nil, fmt.Sprintf("%s names %s, which does not exist: Odoo defaults apply", origin, path), nil
	}
	src, key, _ := strings.Cut(origin, " ")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already in the message
	}
	return nil, "", &KeyError{Source: src, Key: key, Value: path, Err: fmt.Errorf("cannot read odoo.conf: %w", err)}
}

// iniEntry is one option of a section, value already joined and stripped.
type iniEntry struct {
	key, value string
	line       int
}

// iniSection keeps options in first-seen order, like the dict Python uses.
type iniSection struct {
	entries []iniEntry
	index   map[string]int
}

func (s *iniSection) set(e iniEntry) (prevLine int) {
	if i, ok := s.index[e.key]; ok {
		prevLine = s.entries[i].line
		s.entries[i] = e
		return prevLine
	}
	s.index[e.key] = len(s.entries)
	s.entries = append(s.entries, e)
	return 0
}

// iniFile is what RawConfigParser holds after read(): named sections plus
// the [DEFAULT] section whose keys show through in every section's items().
type iniFile struct {
	sections map[string]*iniSection
	defaults *iniSection
	notes    []string
}

func newSection() *iniSection { return &iniSection{index: map[string]int{}} }

// options returns [options] items() the way Python lists them: [DEFAULT]
// keys first, overridden in place by the section's own; ok is false when the
// section is missing (NoSectionError, which Odoo ignores).
func (f *iniFile) options() (entries []iniEntry, ok bool) {
	sec := f.sections[optionsSection]
	if sec == nil {
		return nil, false
	}
	merged := newSection()
	for _, e := range f.defaults.entries {
		merged.set(e)
	}
	for _, e := range sec.entries {
		merged.set(e)
	}
	return merged.entries, true
}

// parseINI reads data following Python 3's RawConfigParser._read with its
// defaults (delimiters "=" and ":", comment prefixes "#" and ";" on whole
// lines only, no inline comments, empty lines kept inside values, keys
// lower-cased, section names case-sensitive, no interpolation). Differences,
// all on the lenient side: duplicate options and sections are merged, last
// value winning, as Python 2 did for Odoo 8.0–10.0 (Python 3 refuses the
// file); a UTF-8 byte order mark is skipped; the first bad line is reported
// instead of all of them.
func parseINI(data []byte, path string) (*iniFile, error) {
	f := &iniFile{sections: map[string]*iniSection{}, defaults: newSection()}
	var (
		cur       *iniSection
		curName   string
		opt       *iniEntry // option being read, continuation lines join it
		parts     []string
		indentLvl int
	)
	flush := func() {
		if opt == nil {
			return
		}
		opt.value = strings.TrimRightFunc(strings.Join(parts, "\n"), pySpace)
		if prev := cur.set(*opt); prev > 0 && curName == optionsSection {
			f.notes = append(f.notes, fmt.Sprintf(
				"odoo.conf [options] %s is set on lines %d and %d: the last one is used (Odoo 8.0-10.0 do the same, Odoo 11.0+ refuse the file)",
				opt.key, prev, opt.line))
		}
		opt, parts = nil, nil
	}
	text := strings.TrimPrefix(string(data), "\uFEFF")
	for i, line := range splitLines(text) {
		lineno := i + 1
		value := strings.TrimFunc(line, pySpace)
		comment := strings.HasPrefix(value, "#") || strings.HasPrefix(value, ";")
		if value == "" || comment {
			if !comment && opt != nil {
				parts = append(parts, "") // a blank line inside a value
			}
			continue
		}
		indent := 0
		for _, r := range line {
			if !pySpace(r) {
				break
			}
			indent++
		}
		if opt != nil && indent > indentLvl {
			parts = append(parts, value) // continuation line
			continue
		}
		indentLvl = indent
		flush()
		if name, ok := sectionHeader(value); ok {
			curName = name
			switch {
			case name == "DEFAULT":
				cur = f.defaults
			case f.sections[name] != nil:
				cur = f.sections[name]
				if name == optionsSection {
					f.notes = append(f.notes, fmt.Sprintf("odoo.conf has a second [options] header on line %d: both are read (Odoo 11.0+ refuse the file)", lineno))
				}
			default:
				cur = newSection()
				f.sections[name] = cur
			}
			continue
		}
		if cur == nil {
			return nil, &KeyError{Source: "odoo.conf", Value: redactLine(value), File: path, Line: lineno, Err: ErrNoSection}
		}
		key, val, ok := splitOption(value)
		if !ok {
			return nil, &KeyError{Source: "odoo.conf", Value: redactLine(value), File: path, Line: lineno, Err: ErrSyntax}
		}
		opt = &iniEntry{key: strings.ToLower(key), line: lineno}
		parts = []string{val}
	}
	flush()
	return f, nil
}

// sectionHeader matches Python's SECTCRE "\[(?P<header>.+)\]" (re.match:
// anchored at the start only, greedy, so the header ends at the last "]").
func sectionHeader(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return "", false
	}
	end := strings.LastIndexByte(s, ']')
	if end < 2 {
		return "", false
	}
	return s[1:end], true
}

// splitOption matches Python's OPTCRE "(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$":
// the first "=" or ":" splits; the option name must not be empty.
func splitOption(s string) (key, value string, ok bool) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimRightFunc(s[:i], pySpace)
	value = strings.TrimFunc(s[i+1:], pySpace)
	return key, value, key != ""
}

// splitLines splits like Python's universal newlines: "\n", "\r\n" and a
// lone "\r" all end a line.
func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return lines
}

// pySpace is Python's str.isspace / re "\s" for one character: Go's
// unicode.IsSpace plus the separators U+001C–U+001F. An invalid UTF-8 byte
// is not space.
func pySpace(r rune) bool {
	return r != utf8.RuneError && (unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f))
}

// envRef is posixpath.expandvars' pattern (re.ASCII): $name or ${name}.
var envRef = regexp.MustCompile(`\$(\w+|\{[^}]*\})`)

// expandVars is Python's os.path.expandvars: references to unset (here:
// empty) variables are left as written.
func expandVars(s string, getenv func(string) string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.TrimSuffix(strings.TrimPrefix(m[1:], "{"), "}")
		if v := getenv(name); v != "" {
			return v
		}
		return m
	})
}

// expandUser is Python's os.path.expanduser: "~" and "~/..." use $HOME (else
// the passwd entry), "~name/..." that user's home; unknown users are left.
func expandUser(s string, getenv func(string) string) string {
	if !strings.HasPrefix(s, "~") {
		return s
	}
	i := strings.IndexByte(s, '/')
	if i < 0 {
		i = len(s)
	}
	var home string
	if i == 1 {
		home = homeDir(getenv)
	} else if u, err := user.Lookup(s[1:i]); err == nil {
		home = u.HomeDir
	}
	if home == "" {
		return s
	}
	if out := strings.TrimRight(home, "/") + s[i:]; out != "" {
		return out
	}
	return "/"
}

// homeDir is what Python's expanduser("~") returns: $HOME, else the passwd
// entry of the current user.
func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return ""
}

// normalizePath is odoo/tools/config.py configmanager._normalize (16.0):
// strip, expandvars, expanduser, abspath. realpath is not applied: resolving
// symlinks does not change which directory is read.
func normalizePath(p string, getenv func(string) string) string {
	p = strings.TrimFunc(p, pySpace)
	if p == "" {
		return ""
	}
	p = expandUser(expandVars(p, getenv), getenv)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}
