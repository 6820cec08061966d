package caddymodule

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The Caddyfile blocks of README.md and xcaddy.md are what a new user
// copies: each must adapt and validate (every module provisioned, as
// `caddy validate` does). A line before each block says what it is:
//
//	<!-- caddyfile: file -->              a whole Caddyfile
//	<!-- caddyfile: site -->              directives of a site
//	<!-- caddyfile: sessiontap -->        subdirectives of sessiontap
//	<!-- caddyfile: sessiontap+redis -->  the same, with a Redis store
//	<!-- caddyfile: sessiontap_api -->    options of sessiontap_api
//	<!-- caddyfile: syntax -->            a summary with <placeholders>, not a config
//
// A block without its line fails the test, so none is left unchecked by
// being forgotten.

var (
	readmeBlock  = regexp.MustCompile("(?m)^[ \\t]*<!-- caddyfile: ([a-z+]+) -->\\n\\s*```caddyfile\\n((?s:.*?))\\n\\s*```")
	anyBlock     = regexp.MustCompile("(?m)^\\s*```caddyfile$")
	envPlacehold = regexp.MustCompile(`\{env\.([A-Z0-9_]+)\}`)
)

func TestREADMECaddyfileBlocksAreValid(t *testing.T) {
	for _, name := range []string{"../README.md", "../xcaddy.md"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		marked := readmeBlock.FindAllStringSubmatchIndex(text, -1)
		if all := len(anyBlock.FindAllStringIndex(text, -1)); all != len(marked) {
			t.Fatalf("%s: %d caddyfile blocks, %d with a <!-- caddyfile: … --> line before them", name, all, len(marked))
		}
		for _, m := range marked {
			kind, block := text[m[2]:m[3]], dedent(text[m[4]:m[5]])
			line := strings.Count(text[:m[0]], "\n") + 2
			t.Run(fmt.Sprintf("%s:%d", strings.TrimPrefix(name, "../"), line), func(t *testing.T) {
				checkBlock(t, kind, block)
			})
		}
	}
}

func checkBlock(t *testing.T, kind, block string) {
	if kind == "syntax" {
		return
	}
	for _, m := range envPlacehold.FindAllStringSubmatch(block, -1) {
		// A real secret's length; the README's own names, whatever they are.
		t.Setenv(m[1], "readme-test-secret-0123456789abcdef")
	}
	var config string
	switch kind {
	case "file":
		t.Setenv("REDIS_ADDR", redisAddr(t))
		config = block
	case "site":
		config = ":8080 {\n" + block + "\n}\n"
	case "sessiontap":
		config = ":8080 {\n\tsessiontap {\n" + block + "\n\t}\n\trespond ok\n}\n"
	case "sessiontap+redis":
		store := fmt.Sprintf("store redis {\n\taddress %s\n\tprefix %s\n\tindex_key %s\n}\n", redisAddr(t), testRedisPrefix(), testIndexKey)
		config = ":8080 {\n\tsessiontap {\n" + store + block + "\n\t}\n\trespond ok\n}\n"
	case "sessiontap_api":
		config = ":8080 {\n\tsessiontap_api {\n" + block + "\n\t}\n}\n"
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err := validateCaddyfile(t, config); err != nil {
		t.Errorf("refused: %v\n%s", err, config)
	}
}

// dedent removes the indentation of a block nested in a list item.
func dedent(block string) string {
	lines := strings.Split(block, "\n")
	indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
	for i, l := range lines {
		if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}
