package ws

import "regexp"

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
	return ua != "" && browserUA.MatchString(ua)
}
