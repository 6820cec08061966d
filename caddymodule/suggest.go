package caddymodule

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// didYouMean returns `, did you mean "x"?` for the known option x nearest
// to got, or "" when none is close: at most two edits (a swap of two
// neighbouring letters counts as one), or got a prefix of at least three
// letters. Ties go to the option first in known.
func didYouMean(got string, known []string) string {
	got = strings.ToLower(got)
	best, bestScore := "", 4
	for _, k := range known {
		score := 4
		if d := editDistance(got, k); d <= 2 && d < len(got) {
			score = d
		} else if len(got) >= 3 && strings.HasPrefix(k, got) {
			score = 3 // weaker than any edit: "cap" fits several options
		}
		if score < bestScore {
			best, bestScore = k, score
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours, each 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// rows i-2, i-1 and i of the usual dynamic-programming table
	prev2, prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// optionNames lists the options of a block's dispatch map, so that
// suggestions are drawn from exactly the options the block accepts;
// sorted, so that ties are broken the same way every time.
func optionNames[F any](options map[string]F) []string {
	names := make([]string, 0, len(options))
	for name := range options {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// unrecognized is the error for an unknown option in a block: what names
// the block (e.g. "api: unrecognized option"), the option is d's current
// token.
func unrecognized(d *caddyfile.Dispenser, what string, known []string) error {
	return d.Errf("%s %q%s", what, d.Val(), didYouMean(d.Val(), known))
}

// stringOption is a dispatch-map entry that reads exactly one argument
// into the field that field picks.
func stringOption[T any](field func(*T) *string) func(*T, *caddyfile.Dispenser) error {
	return func(t *T, d *caddyfile.Dispenser) error {
		return oneArg(d, field(t))
	}
}
