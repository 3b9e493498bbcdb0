package main

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// benchItem is one benchmark notification found in a frame.
type benchItem struct {
	run         string
	burst, seq  int
	sent        int64
	isBenchType bool
}

// parseFrame extracts the benchmark notifications of one frame (Odoo's JSON
// array of {"id", "message": {"type", "payload"}}). The reader of 19,000
// sockets shares the machine with the server, so the common shape is
// scanned by hand (about 10× cheaper than encoding/json); anything
// unexpected goes through encoding/json. others counts the items that are
// not benchmark notifications.
func parseFrame(data []byte) (items []benchItem, others int, ok bool) {
	if len(data) == 0 || data[0] != '[' {
		return parseFrameSlow(data)
	}
	n := bytes.Count(data, []byte(`"message":`))
	rest := data
	for {
		i := bytes.Index(rest, []byte(`"type": "`+benchType+`"`))
		if i < 0 {
			break
		}
		rest = rest[i:]
		var it benchItem
		var good bool
		if it.run, rest, good = stringField(rest, `"run":`); !good {
			return parseFrameSlow(data)
		}
		var v int64
		if v, rest, good = intField(rest, `"burst":`); !good {
			return parseFrameSlow(data)
		}
		it.burst = int(v)
		if v, rest, good = intField(rest, `"seq":`); !good {
			return parseFrameSlow(data)
		}
		it.seq = int(v)
		if it.sent, rest, good = intField(rest, `"sent":`); !good {
			return parseFrameSlow(data)
		}
		it.isBenchType = true
		items = append(items, it)
	}
	return items, n - len(items), true
}

func skipTo(b []byte, key string) ([]byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, false
	}
	b = b[i+len(key):]
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b, true
}

func stringField(b []byte, key string) (string, []byte, bool) {
	b, ok := skipTo(b, key)
	if !ok || len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	j := bytes.IndexByte(b[1:], '"')
	if j < 0 {
		return "", nil, false
	}
	return string(b[1 : 1+j]), b[2+j:], true
}

func intField(b []byte, key string) (int64, []byte, bool) {
	b, ok := skipTo(b, key)
	if !ok {
		return 0, nil, false
	}
	j := 0
	for j < len(b) && (b[j] == '-' || (b[j] >= '0' && b[j] <= '9')) {
		j++
	}
	v, err := strconv.ParseInt(string(b[:j]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return v, b[j:], true
}

// parseFrameSlow is parseFrame with encoding/json.
func parseFrameSlow(data []byte) ([]benchItem, int, bool) {
	var raw []struct {
		ID      int64 `json:"id"`
		Message struct {
			Type    string `json:"type"`
			Payload struct {
				Run   string `json:"run"`
				Burst int    `json:"burst"`
				Seq   int    `json:"seq"`
				Sent  int64  `json:"sent"`
			} `json:"payload"`
		} `json:"message"`
	}
	if json.Unmarshal(data, &raw) != nil {
		return nil, 0, false
	}
	var items []benchItem
	others := 0
	for _, r := range raw {
		if r.Message.Type != benchType {
			others++
			continue
		}
		p := r.Message.Payload
		items = append(items, benchItem{run: p.Run, burst: p.Burst, seq: p.Seq, sent: p.Sent, isBenchType: true})
	}
	return items, others, true
}
