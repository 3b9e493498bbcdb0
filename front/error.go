package front

import (
	"html"
	"net/http"
	"strconv"
)

// Error is a non-JSON error answer: werkzeug's HTTPException page
// (werkzeug/exceptions.py HTTPException.get_body), or a bare page of the
// WSGI server. It carries no session cookie: Odoo answers these before, or
// instead of, the session save.
type Error struct {
	Status      int
	ContentType string
	Body        string
	// Close: the answer carries "Connection: close" (gevent's own error
	// page, gevent/pywsgi.py WSGIHandler._send_error_response_if_possible).
	Close bool
	// Log is what Odoo logs for it ("" = nothing).
	Log string
}

// Werkzeug is werkzeug's HTML page for status with the description
// escaped (markupsafe's escape, which html.EscapeString matches: & < > '
// " as &amp; &lt; &gt; &#39; &#34;). Werkzeug 0.16 and 2.2 (Odoo 13.0 to
// 17.0) build the same page.
func Werkzeug(status int, description string) *Error {
	name := http.StatusText(status)
	return &Error{
		Status:      status,
		ContentType: "text/html; charset=utf-8",
		Body: "<!doctype html>\n<html lang=en>\n<title>" + strconv.Itoa(status) + " " + name +
			"</title>\n<h1>" + name + "</h1>\n<p>" + html.EscapeString(description) + "</p>\n",
	}
}

// Write sends the answer.
func (e *Error) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", e.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(e.Body)))
	if e.Close {
		h.Set("Connection", "close")
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(e.Body))
}

// The werkzeug default descriptions (werkzeug/exceptions.py).
const (
	DescBadRequest  = "The browser (or proxy) sent a request that this server could not understand."
	DescNotFound    = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
	DescInternal    = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."
	DescTooLarge    = "The data value transmitted exceeds the capacity limit."
	DescUnavailable = "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later."
)

// The werkzeug pages with their default description.
var (
	// NotFound is the router's answer to a URL it has no rule for
	// (captures/odoo17 http_longpolling_and_peek.json
	// POST_longpolling_poll_8072, captures/odoo15 GET_send_*).
	NotFound = Werkzeug(http.StatusNotFound, DescNotFound)
	// BadRequest is a plain BadRequest (werkzeug's WebsocketMismatch too).
	BadRequest = Werkzeug(http.StatusBadRequest, DescBadRequest)
	// Internal is InternalServerError: a server fault (session store,
	// database) before the controller.
	Internal = Werkzeug(http.StatusInternalServerError, DescInternal)
	// TooLarge is RequestEntityTooLarge.
	TooLarge = Werkzeug(http.StatusRequestEntityTooLarge, DescTooLarge)
	// Unavailable is ServiceUnavailable.
	Unavailable = Werkzeug(http.StatusServiceUnavailable, DescUnavailable)
)
