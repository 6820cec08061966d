package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

// Origins records where a handler's options were written, by option name
// ("collect": "Caddyfile:12"). The Caddyfile adapter fills it in; it is
// used only in error messages, so that a mistake found at Provision or
// Validate names its file and line as a parse error does.
type Origins map[string]string

// note records tok's option, once: the first line that set it.
func (o *Origins) note(tok caddyfile.Token) {
	if *o == nil {
		*o = Origins{}
	}
	if _, ok := (*o)[tok.Text]; !ok {
		(*o)[tok.Text] = origin(tok)
	}
}

// optionOf is the option an error of ours is about: its first word, as
// our messages begin ("collect: …", "forward webhook: …", "sessions[0]:
// …", "hmac_key is required …"), mapped to the option's name. A word
// that names no recorded option finds no origin.
func optionOf(msg string) string {
	head, _, _ := strings.Cut(msg, ":")
	head, _, _ = strings.Cut(head, " ")
	head, _, _ = strings.Cut(head, "[")
	switch head {
	case "loading", "redis":
		return "store"
	case "sessions":
		return "session"
	}
	return head
}

// located adds the origin of the option err is about, when the Caddyfile
// recorded one and err does not name a place already, and logs it: Caddy
// wraps a module's error in its whole provisioning chain, so our own line
// is what a reader sees first.
func (o Origins) located(err error, log *zap.Logger) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, ", at ") {
		if at := o[optionOf(msg)]; at != "" {
			err = atOrigin(err, at)
		}
	}
	if log != nil {
		log.Error(err.Error())
	}
	return err
}
