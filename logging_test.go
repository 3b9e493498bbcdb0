package main

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// --version prints the build version set with -X main.version.
func TestRun_VersionPrintsBuildVersion(t *testing.T) {
	old := version
	version = "1.2.3-test"
	defer func() { version = old }()
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &stdout, io.Discard, nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := stdout.String(); got != "odoobus 1.2.3-test\n" {
		t.Fatalf("--version printed %q", got)
	}
}
