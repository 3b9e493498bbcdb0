package config

import (
	"errors"
	"testing"
)

func TestBusChannelResolver(t *testing.T) {
	c, err := Load([]string{"-c", writeConf(t, "[options]\nhttp_port = 8269\n")}, testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.BusChannelResolver != "auto" || c.HTTPURL() != "http://127.0.0.1:8269" {
		t.Fatalf("defaults: %q %q", c.BusChannelResolver, c.HTTPURL())
	}
	c, err = Load([]string{"-c", writeConf(t, "[options]\nbus_channel_resolver = odoo\nhttp_interface = 10.0.0.5\n"),
		"--odoo-http-url", "http://odoo:8069/"}, testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.BusChannelResolver != "odoo" || c.HTTPURL() != "http://odoo:8069" {
		t.Fatalf("file+flag: %q %q", c.BusChannelResolver, c.HTTPURL())
	}
	if src := c.Sources(); src["odoo_http_url"] != "flag --odoo-http-url" {
		t.Fatalf("source %q", src["odoo_http_url"])
	}
	c.OdooHTTPURL = ""
	if c.HTTPURL() != "http://10.0.0.5:8069" {
		t.Fatalf("from http_interface: %q", c.HTTPURL())
	}
	_, err = Load([]string{"-c", writeConf(t, "[options]\nbus_channel_resolver = python\n")}, testEnv(t))
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "bus_channel_resolver" {
		t.Fatalf("bad value: %v, want a KeyError naming the key", err)
	}
}
