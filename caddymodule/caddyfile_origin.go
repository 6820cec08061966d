package caddymodule

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// origin is where tok was written, e.g. "Caddyfile:12": what the Caddyfile
// adapter keeps in the config's origin fields. JSON carries no positions,
// so without it an error at Provision could not say which line is wrong.
func origin(tok caddyfile.Token) string {
	return fmt.Sprintf("%s:%d", tok.File, tok.Line)
}

// errAt adds tok's position to err exactly as Dispenser.Errf would (import
// chain included), for mistakes found only after the dispenser has moved
// on, e.g. a required option missing once the block's } is read.
func errAt(tok caddyfile.Token, err error) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{tok})
	d.Next()
	return d.WrapErr(err)
}

// atOrigin adds ", at <origin>", the way Caddyfile errors end, when the
// origin is known; err may be nil.
func atOrigin(err error, origin string) error {
	if err == nil || origin == "" {
		return err
	}
	return fmt.Errorf("%w, at %s", err, origin)
}

// envPlaceholder matches {env.NAME}.
var envPlaceholder = regexp.MustCompile(`\{env\.([^{}]+)\}`)

// emptySecret is the error for the option what, configured as raw, whose
// placeholders were all replaced by nothing. Printing raw is safe: had it
// held any literal text, it would not have ended up empty, so raw is only
// placeholders ({env.X}, {file.path}), never a secret.
func emptySecret(what, raw, origin string) error {
	msg := fmt.Sprintf("%s %q is empty after replacing placeholders", what, raw)
	var names []string
	for _, m := range envPlaceholder.FindAllStringSubmatch(raw, -1) {
		names = append(names, m[1])
	}
	switch len(names) {
	case 0:
	case 1:
		msg += fmt.Sprintf(" (is %s set?)", names[0])
	default:
		msg += fmt.Sprintf(" (are %s set?)", strings.Join(names, " and "))
	}
	return atOrigin(errors.New(msg), origin)
}
