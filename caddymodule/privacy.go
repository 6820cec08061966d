package caddymodule

import (
	"errors"
	"fmt"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// HMACKeyNone, as hmac_key, says on purpose that customer references leave
// the process under an HMAC with an empty key (anyone can compute it).
const HMACKeyNone = "none"

// idPseudonymKey is the key of the pseudonyms our own session ids leave
// the process as (delivery.Pseudonyms: sinks and the access log): hmac_key
// when one is configured, otherwise a key the store generates and keeps
// (cache.Secrets), so that every node of a fleet sends the same pseudonym
// for a session and a restart does not change them.
func (h *Handler) idPseudonymKey() ([]byte, error) {
	if key := h.hmacKey(); key != "" {
		return []byte(key), nil
	}
	return h.storeSecret("session-pseudonym")
}

// thirdPartySinks are the sinks that get customer references only
// pseudonymised under hmac_key; the webhook, the shop's own endpoint,
// gets them as stored.
var thirdPartySinks = []string{"talonone", "emporix", "nosto"}

var errHashIPWithoutKey = errors.New("hide_ip hash needs hmac_key: an IPv4 address hashed under no key " +
	"is found by trying all 2^32 of them; set hmac_key, or use hide_ip truncate")

// hmacKeyProblem says what cannot work with key, the hmac_key with its
// placeholders replaced: hide_ip hash needs a real key, and third-party
// sinks need one or an explicit hmac_key none. raw is the key as
// configured, for the message.
func (h *Handler) hmacKeyProblem(raw, key string) error {
	if key != "" && key != HMACKeyNone {
		return nil
	}
	if h.HideIP == "hash" {
		return keyErr(errHashIPWithoutKey, raw)
	}
	for _, f := range h.Forward {
		if key == "" && slices.Contains(thirdPartySinks, f.To) {
			return keyErr(thirdPartyErr(f.To), raw)
		}
	}
	return nil
}

func thirdPartyErr(sink string) error {
	return fmt.Errorf("forward %s sends customer references pseudonymised under hmac_key, and none is set; "+
		"set hmac_key, or hmac_key %s to send them under an empty key on purpose", sink, HMACKeyNone)
}

// keyErr adds why the key is empty when it was a placeholder.
func keyErr(err error, raw string) error {
	if raw == "" {
		return err
	}
	return fmt.Errorf("%w (%v)", err, emptySecret("hmac_key", raw, ""))
}

// hmacKey is the key the HMACs are made with: hmac_key with placeholders
// replaced, and empty for hmac_key none.
func (h *Handler) hmacKey() string {
	key := caddy.NewReplacer().ReplaceKnown(h.HMACKey, "")
	if key == HMACKeyNone {
		return ""
	}
	return key
}

// checkHMACKeyAt is hmacKeyProblem at Caddyfile time, where an absent key
// can be pointed at the line that needs one: hide_ip's, or the first
// third-party forward's. A key from a placeholder is checked at Provision.
func (m *Handler) checkHMACKeyAt(hideIP, forward *caddyfile.Token, sink string) error {
	if m.HMACKey != "" && m.HMACKey != HMACKeyNone {
		return nil
	}
	if m.HideIP == "hash" && hideIP != nil {
		return errAt(*hideIP, errHashIPWithoutKey)
	}
	if m.HMACKey == "" && forward != nil {
		return errAt(*forward, thirdPartyErr(sink))
	}
	return nil
}
