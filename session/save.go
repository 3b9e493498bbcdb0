package session

// Save writes the session dict d as session sid, the way Odoo's store
// saves (see SavePublic), pickled with protocol 4: readable by every
// Python 3 Odoo (11.0–15.0 run on Python 3.5+, and protocol 5 needs 3.8),
// which is why it is used rather than the protocol 5 a Python 3.8+ Odoo
// writes itself.
func (s *Store) Save(sid string, d *Dict) error {
	if !ValidSID(sid) {
		return ErrInvalidSID
	}
	b, err := Encoder{Protocol: 4}.Encode(d)
	if err != nil {
		return err
	}
	return s.save(sid, b)
}
