package ws

import (
	"regexp"
	"sync"
	"sync/atomic"
)

// browserUA matches what Odoo's vendored werkzeug user-agent parser
// (odoo/tools/_vendor/useragents.py, UserAgentParser.browsers, used by
// odoo/http.py HTTPRequest in 16.0/17.0) recognises as a browser. Odoo's
// `if httprequest.user_agent` is true exactly when that parser finds a
// browser: each browser regex is `(?:<names>)[/\sa-z(]*(\d+[.\da-z]+)?`
// searched case-insensitively, and since everything after the names may
// match nothing, a browser is found iff one of the names occurs.
// Names are listed in the parser's order.
var browserUA = regexp.MustCompile(`(?i)` +
	`googlebot|msnbot|yahoo|ask jeeves|aol|america\s+online\s+browser|` +
	`opera|\bopr/|edge|\bedg/|chrome|crios|seamonkey|` +
	`firefox|firebird|phoenix|iceweasel|galeon|safari|version|webkit|` +
	`camino|konqueror|k-meleon|netscape|` +
	`msie|microsoft\s+internet\s+explorer|trident/.+? rv:|` +
	`lynx|links|baiduspider|bingbot|mozilla`)

// isBrowserUA reports whether Odoo would consider the request to have a
// User-Agent (werkzeug UserAgent.__bool__ = bool(browser)). Only such
// requests get the 17.0 worker-version check (§1.5): IoT boxes and scripts
// are exempt.
func isBrowserUA(ua string) bool {
	if ua == "" {
		return false
	}
	if v, ok := uaSeen.Load(ua); ok {
		return v.(bool)
	}
	is := browserUA.MatchString(ua)
	// A connection storm is thousands of handshakes from a handful of
	// browsers: the case-insensitive alternation above was 2 % of the
	// handshake CPU (odoobus-bench profile). Bounded: only the first
	// uaCacheMax distinct User-Agents of at most 512 bytes are remembered.
	if len(ua) <= 512 && uaSeenN.Add(1) <= uaCacheMax {
		uaSeen.Store(ua, is)
	}
	return is
}

const uaCacheMax = 4096

var (
	uaSeen  sync.Map // User-Agent → isBrowserUA
	uaSeenN atomic.Int64
)
