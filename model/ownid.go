package model

// IsOwnID reports whether id has the shape of a session id sessiontap
// issued (NewID): 22 base64url characters. The shape is what tells our
// ids from external ones (a shop's session id, Nosto's 2c.cId) wherever
// the request that brought the id is gone, as in upstream delivery. It
// never mistakes one of ours for an external id; an external id of
// exactly that shape is taken for ours, which errs on the side of
// privacy: it is then treated as secret too.
func IsOwnID(id string) bool {
	return len(id) == ownIDLen && isBase64URL(id)
}
