package tagging

import "strings"

// special is what the tree code must know about an element name. Most
// names are not special and get the zero value.
type special struct {
	name  string
	flags uint16
	// group is non-zero for elements whose start tag closes an open element
	// of the same group just before it (<li> after an unclosed <li>).
	group uint8
}

const (
	spVoid     uint16 = 1 << iota // never has content or an end tag
	spRaw                         // content is not markup
	spRCData                      // raw, but its content is text (title, textarea)
	spPlain                       // raw to the end of the page (plaintext)
	spClosesP                     // its start tag closes an open <p>
	spScope                       // stops the search for a <p> to close
	spTemplate                    // content is not part of the document
	spP                           // is <p>
	spScript                      // raw, with the script data escapes (script.go)
)

var specialNames = map[string]special{
	"p":        {flags: spClosesP | spP},
	"template": {flags: spTemplate | spScope},
	"textarea": {flags: spRaw | spRCData},
	"title":    {flags: spRaw | spRCData},
	"li":       {flags: spClosesP, group: 1},
	"dt":       {flags: spClosesP, group: 2},
	"dd":       {flags: spClosesP, group: 2},
	"option":   {group: 3},
	"tr":       {group: 4},
	"td":       {flags: spScope, group: 5},
	"th":       {flags: spScope, group: 5},
	"hr":       {flags: spVoid | spClosesP},
}

func init() {
	for _, n := range strings.Fields("area base br col embed img input link meta source track wbr param keygen basefont bgsound frame image") {
		specialNames[n] = special{flags: spVoid}
	}
	for _, n := range strings.Fields("script style xmp iframe noembed noframes noscript") {
		specialNames[n] = special{flags: spRaw}
	}
	specialNames["script"] = special{flags: spRaw | spScript}
	specialNames["plaintext"] = special{flags: spRaw | spPlain}
	for _, n := range strings.Fields("address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup main menu nav ol pre listing search section summary table ul") {
		sp := specialNames[n]
		sp.flags |= spClosesP
		specialNames[n] = sp
	}
	for _, n := range strings.Fields("applet caption html table marquee object button") {
		sp := specialNames[n]
		sp.flags |= spScope
		specialNames[n] = sp
	}
	for name, sp := range specialNames {
		sp.name = name
		specialAdd(keyOf(name), sp)
	}
}

// specialTable is a small open-addressed hash table: a map lookup per tag
// shows up in profiles, this does not.
var specialTable [256]struct {
	key uint64
	sp  special
}

func specialAdd(key uint64, sp special) {
	for i := key; ; i++ {
		e := &specialTable[i%uint64(len(specialTable))]
		if e.key == 0 {
			e.key, e.sp = key, sp
			return
		}
	}
}

func specialOf(key uint64) special {
	for i := key; ; i++ {
		e := &specialTable[i%uint64(len(specialTable))]
		if e.key == key {
			return e.sp
		}
		if e.key == 0 {
			return special{}
		}
	}
}
