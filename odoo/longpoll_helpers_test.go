package odoo

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/base64"
	"strings"
	"testing"
)

// pbkdf2Sum is passlib's ab64 checksum of PBKDF2-HMAC-SHA512 (64 bytes).
func pbkdf2Sum(t *testing.T, password string, salt []byte, rounds int) string {
	t.Helper()
	k, err := pbkdf2.Key(sha512.New, password, salt, rounds, 64)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(k), "+", ".")
}
