package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"odoobus/odoo"
	"odoobus/session"
)

// login is session source (a): Odoo's JSON-RPC POST /web/session/authenticate
// (captures/odoo17/http_login.json), returning the session_id cookie.
func login(ctx context.Context, base, db, user, password string) (string, error) {
	body, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "method": "call", "id": 1,
		"params": map[string]any{"db": db, "login": user, "password": password},
	})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/web/session/authenticate", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var rpc struct {
		Result *struct {
			UID any `json:"uid"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
			Data    struct {
				Message string `json:"message"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &rpc); err != nil {
		return "", fmt.Errorf("login: HTTP %d, not JSON-RPC: %.200s", resp.StatusCode, b)
	}
	if rpc.Error != nil {
		return "", fmt.Errorf("login refused: %s: %s", rpc.Error.Message, rpc.Error.Data.Message)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "session_id" && session.ValidSID(c.Value) {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("login: HTTP %d without a session_id cookie", resp.StatusCode)
}

// writeSessions is session source (b): n logged-in session files in dir
// (Odoo 16.0+ layout <dir>/<sid[:2]>/<sid>) for the users uids in turn, each
// with the session token Odoo would compute (res.users
// _compute_session_token: odoo.Database.TokenKeys + session.ComputeToken),
// as e2e_helpers_test.go writeSession does. It returns the sids.
func writeSessions(ctx context.Context, conn *sql.DB, dir, db string, uids []int64, n int) ([]string, error) {
	d := &odoo.Database{Name: db, SQL: conn}
	keys, err := d.TokenKeys(ctx, uids)
	if err != nil {
		return nil, err
	}
	type user struct {
		uid   int64
		login string
		key   []any
	}
	users := make([]user, 0, len(uids))
	for _, uid := range uids {
		key, ok := keys[uid]
		if !ok {
			return nil, fmt.Errorf("res_users id %d not found in %s", uid, db)
		}
		var login string
		if err := conn.QueryRowContext(ctx, `SELECT login FROM res_users WHERE id = $1`, uid).Scan(&login); err != nil {
			return nil, err
		}
		users = append(users, user{uid, login, key})
	}
	store := &session.Store{Dir: dir, Layout: session.LayoutSharded}
	sids := make([]string, n)
	for i := range sids {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		u := users[i%len(users)]
		sid := session.NewSID()
		c := session.NewDict()
		c.Set("lang", "en_US")
		c.Set("tz", "UTC")
		c.Set("uid", u.uid)
		s := session.NewDict()
		s.Set("context", c)
		s.Set("db", db)
		s.Set("debug", "")
		s.Set("login", u.login)
		s.Set("uid", u.uid)
		s.Set("session_token", session.ComputeToken(u.key, sid))
		path := store.Path(sid)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, session.Encode(s), 0o644); err != nil {
			return nil, err
		}
		sids[i] = sid
	}
	return sids, nil
}

// removeSessions deletes the files writeSessions wrote.
func removeSessions(dir string, sids []string) {
	store := &session.Store{Dir: dir, Layout: session.LayoutSharded}
	for _, sid := range sids {
		_ = os.Remove(store.Path(sid))
	}
}
