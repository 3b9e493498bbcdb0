package front

import (
	"net/http"
	"strings"
)

// ProxyFix is werkzeug's ProxyFix(x_for=1, x_proto=1, x_host=1), which Odoo
// puts in front of the application under proxy_mode when the request has
// an X-Forwarded-Host header (odoo/service/wsgi_server.py application
// @13.0 to @15.0; odoo/http.py Application.__call__ @16.0/@17.0): the last
// X-Forwarded-Host and X-Forwarded-Proto values replace the Host and the
// scheme. The WSGI server joins repeated header lines with "," (gevent/
// pywsgi.py WSGIHandler.get_environ) and an empty value changes nothing.
type ProxyFix struct {
	// Unquote: list values are parsed as werkzeug 2.2's parse_list_header
	// does, which removes the double quotes around a value; werkzeug 0.16's
	// _get_trusted_comma only splits on "," and strips blanks.
	Unquote bool
}

var (
	// ProxyFix016 is werkzeug 0.16's, the one Odoo 13.0–15.0 pin (and the
	// rule odoobus applies to every /longpolling version).
	ProxyFix016 = ProxyFix{}
	// ProxyFix22 is werkzeug 2.2's (Odoo 16.0/17.0).
	ProxyFix22 = ProxyFix{Unquote: true}
)

// HostScheme is the Host and scheme Odoo sees for r.
func (p ProxyFix) HostScheme(r *http.Request, proxyMode bool) (host, scheme string) {
	host, scheme = r.Host, "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !proxyMode || len(r.Header.Values("X-Forwarded-Host")) == 0 {
		return host, scheme
	}
	if h := p.last(HeaderValue(r.Header, "X-Forwarded-Host")); h != "" {
		host = h
	}
	if s := p.last(HeaderValue(r.Header, "X-Forwarded-Proto")); s != "" {
		scheme = s
	}
	return host, scheme
}

// last is the last value of a comma-separated list (x_host=1: one proxy
// trusted).
func (p ProxyFix) last(v string) string {
	if v == "" {
		return ""
	}
	v = strings.TrimSpace(v[strings.LastIndexByte(v, ',')+1:])
	if p.Unquote {
		v = strings.Trim(v, `"`)
	}
	return v
}

// HeaderValue joins repeated header lines with "," as the WSGI server does.
func HeaderValue(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
}
