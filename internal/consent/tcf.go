package consent

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TCString is what sessiontap reads of an IAB TCF v2 TC string's core
// segment ("IAB Tech Lab - Consent string and vendor list formats v2",
// the TC string's core segment): enough to know which purposes the
// visitor consented to. Vendor consents and the other segments are not
// read.
type TCString struct {
	Version          int
	Created, Updated time.Time
	CmpID, CmpVer    int
	ConsentScreen    int
	ConsentLanguage  string
	VendorListVer    int
	PolicyVersion    int
	ServiceSpecific  bool
	SpecialFeatures  []int // opted in, 1 to 12
	PurposesConsent  []int // 1 to 24
	PurposesLI       []int // legitimate interest established, 1 to 24
	PurposeOneTreat  bool
	PublisherCountry string
}

// coreBits is the core segment's length up to and including the
// publisher's country code: what ParseTCString reads.
const coreBits = 213

// ParseTCString reads the core segment of a TCF v2 TC string (the value
// of the euconsent-v2 cookie).
func ParseTCString(s string) (*TCString, error) {
	core, _, _ := strings.Cut(strings.TrimSpace(s), ".")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(core, "="))
	if err != nil {
		return nil, fmt.Errorf("tcf: not base64url: %w", err)
	}
	r := bitReader{b: b}
	if len(b)*8 < coreBits {
		return nil, errors.New("tcf: too short for a core segment")
	}
	tc := &TCString{Version: r.int(6)}
	if tc.Version != 2 {
		return nil, fmt.Errorf("tcf: version %d, want 2", tc.Version)
	}
	tc.Created, tc.Updated = r.deciseconds(), r.deciseconds()
	tc.CmpID, tc.CmpVer, tc.ConsentScreen = r.int(12), r.int(12), r.int(6)
	tc.ConsentLanguage = r.letters()
	tc.VendorListVer, tc.PolicyVersion = r.int(12), r.int(6)
	tc.ServiceSpecific = r.bool()
	r.bool() // UseNonStandardTexts
	tc.SpecialFeatures = r.bitfield(12)
	tc.PurposesConsent = r.bitfield(24)
	tc.PurposesLI = r.bitfield(24)
	tc.PurposeOneTreat = r.bool()
	tc.PublisherCountry = r.letters()
	return tc, nil
}

// bitReader reads big-endian bit fields; callers check the length first.
type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) int(n int) int {
	v := 0
	for range n {
		bit := r.b[r.pos/8] >> (7 - r.pos%8) & 1
		v = v<<1 | int(bit)
		r.pos++
	}
	return v
}

func (r *bitReader) bool() bool { return r.int(1) == 1 }

// deciseconds is a 36-bit time in tenths of a second since 1970.
func (r *bitReader) deciseconds() time.Time {
	return time.UnixMilli(int64(r.int(36)) * 100).UTC()
}

// letters is two 6-bit letters, A = 0.
func (r *bitReader) letters() string {
	return string([]byte{byte('A' + r.int(6)), byte('A' + r.int(6))})
}

// bitfield is the 1-based numbers of the set bits among the next n.
func (r *bitReader) bitfield(n int) []int {
	var out []int
	for i := 1; i <= n; i++ {
		if r.bool() {
			out = append(out, i)
		}
	}
	return out
}
