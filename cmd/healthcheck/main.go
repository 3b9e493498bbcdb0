// Command healthcheck is the HEALTHCHECK of the odoobus container image: it
// GETs one URL (default http://127.0.0.1:8072/websocket/health, the route
// Odoo's bus answers with {"status": "pass"}: addons/bus/controllers/
// websocket.py WebsocketController.health) and exits 0 on a 2xx answer,
// 1 otherwise, 2 on a usage error.
//
// It is its own program rather than an odoobus flag because the runtime
// image has no shell and no curl (distroless static), and odoobus's command
// line stays odoo-bin's (config/flags.go maps every flag to an odoo.conf
// key); a probe is not an odoo.conf setting.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const (
	defaultURL = "http://127.0.0.1:8072/websocket/health"
	// timeout stays below the image's HEALTHCHECK --timeout (5 s) so the
	// probe reports its own error instead of being killed.
	timeout = 4 * time.Second
)

func main() {
	os.Exit(probe(os.Args[1:], os.Stderr))
}

func probe(args []string, stderr io.Writer) int {
	url := defaultURL
	switch len(args) {
	case 0:
	case 1:
		url = args[0]
	default:
		fmt.Fprintln(stderr, "usage: healthcheck [URL]   (default "+defaultURL+")")
		return 2
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<12))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}
