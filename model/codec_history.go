package model

import "google.golang.org/protobuf/encoding/protowire"

// The session's history, encoded like the rest of codec.go:
// Session{19 history (repeated), 20 login_ref} HistoryEntry{1 version, 2 at ns, 3 source, 4 changes, 5 path}

const (
	sessionHistory  protowire.Number = 19
	sessionLoginRef protowire.Number = 20

	historyVersion protowire.Number = 1
	historyAt      protowire.Number = 2
	historySource  protowire.Number = 3
	historyChanges protowire.Number = 4
	historyPath    protowire.Number = 5
)

func (s *Session) appendHistory(b []byte) []byte {
	for i := range s.History {
		b = appendMessage(b, sessionHistory, true, s.History[i].appendBinary)
	}
	return appendString(b, sessionLoginRef, s.LoginRef)
}

func (e *HistoryEntry) appendBinary(b []byte) []byte {
	b = appendVarint(b, historyVersion, e.Version)
	b = appendTime(b, historyAt, e.At)
	b = appendString(b, historySource, string(e.Source))
	b = appendVarint(b, historyChanges, uint64(e.Changes))
	return appendString(b, historyPath, e.Path)
}

func (s *Session) decodeHistory(typ protowire.Type, b []byte) (int, error) {
	var e HistoryEntry
	n, err := consumeMessage(typ, b, e.decodeField)
	if err == nil {
		s.History = append(s.History, e)
	}
	return n, err
}

func (e *HistoryEntry) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case historyVersion:
		return consumeVarint(typ, b, func(v uint64) { e.Version = v })
	case historyAt:
		return consumeVarint(typ, b, func(v uint64) { e.At = unixNano(v) })
	case historySource:
		return consumeString(typ, b, (*string)(&e.Source))
	case historyChanges:
		return consumeVarint(typ, b, func(v uint64) { e.Changes = Change(v) })
	case historyPath:
		return consumeString(typ, b, &e.Path)
	}
	return 0, nil
}
