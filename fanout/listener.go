package fanout

import (
	"encoding/json"
	"strings"
)

// ImbusChannel is the PostgreSQL NOTIFY channel of Odoo's bus
// (addons/bus/models/bus.py: NOTIFY/LISTEN "imbus", both on database
// "postgres"; protocol/websocket-16-17.md §5.2).
const ImbusChannel = "imbus"

// listenAppName tags the LISTEN connection in pg_stat_activity.
const listenAppName = "odoobus-imbus"

// listenDSN is dsn (a lib/pq key=value string for database "postgres")
// with application_name set, unless the DSN sets one.
func listenDSN(dsn string) string {
	if strings.Contains(dsn, "application_name=") {
		return dsn
	}
	if dsn != "" {
		dsn += " "
	}
	return dsn + "application_name=" + listenAppName
}

// payloadDBs returns the databases named by an imbus NOTIFY payload: a JSON
// list of channels, each a JSON list whose first element is the database
// name (json_dump(list(channels)) in bus.py; 17.0 may split one commit's
// list over several NOTIFYs, each still a list of channels). ok is false
// when the payload does not have that shape; the caller then reads every
// active database.
func payloadDBs(payload string) (dbs []string, ok bool) {
	var channels []json.RawMessage
	if json.Unmarshal([]byte(payload), &channels) != nil {
		return nil, false
	}
	for _, c := range channels {
		var parts []json.RawMessage
		if json.Unmarshal(c, &parts) != nil || len(parts) == 0 {
			return nil, false
		}
		var db string
		if json.Unmarshal(parts[0], &db) != nil {
			return nil, false
		}
		dup := false
		for _, d := range dbs {
			if d == db {
				dup = true
				break
			}
		}
		if !dup {
			dbs = append(dbs, db)
		}
	}
	return dbs, true
}
