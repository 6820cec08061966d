package model

// SessionChange is one write that changed a session, as whoever wrote it
// (the visitor's path, the session-context API, an upstream's feedback)
// publishes it: the delivery engine, the live feed and the metrics take
// it from there, each on its own.
type SessionChange struct {
	// Session is the session as stored by the write; subscribers only
	// read it.
	Session *Session
	// Entry is the write's history entry: the version, when, where from,
	// the parts changed (Entry.Changes) and the path.
	Entry HistoryEntry
	// Client is the network of the client whose request made the write
	// ("" for writes no client made), for fair shares of queues.
	Client string
}
