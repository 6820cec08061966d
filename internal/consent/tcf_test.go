package consent

import (
	"fmt"
	"testing"
	"time"
)

// The IAB's own decoder tests (iabtcf-java, TCStringV2Test) give these
// strings with their decoded values; the first was made with the IAB's
// encoder at iabtcf.com.
func TestParseTCStringIABExamples(t *testing.T) {
	tc, err := ParseTCString("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	want := TCString{Version: 2, Created: time.Date(2020, 1, 26, 17, 1, 0, 0, time.UTC), Updated: time.Date(2021, 2, 2, 17, 1, 0, 0, time.UTC),
		CmpID: 675, CmpVer: 2, ConsentScreen: 1, ConsentLanguage: "EN", VendorListVer: 15, PolicyVersion: 2,
		SpecialFeatures: []int{1}, PurposesConsent: []int{2, 10}, PurposesLI: []int{2, 9}, PurposeOneTreat: true, PublisherCountry: "AA"}
	if fmt.Sprint(*tc) != fmt.Sprint(want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", *tc, want)
	}
	for s, purposes := range map[string]string{
		"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA":                            "[3 4 5 6 7 8 9]",
		"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA.IBAgAAAgAIAwgAgAAAAEAAAACA": "[3 4 5 6 7 8 9]",
		"COwxsONOwxsONKpAAAENAdCAAMAAAAAAAAAAAAAAAAAA":                                                                  "[1 2]",
	} {
		tc, err := ParseTCString(s)
		if err != nil || fmt.Sprint(tc.PurposesConsent) != purposes {
			t.Errorf("%s: purposes %v, %v; want %s", s, tc, err, purposes)
		}
	}
}

func TestParseTCStringRefusesWhatIsNotOne(t *testing.T) {
	for _, s := range []string{"", "not base64!", "COtybn4P", "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"} {
		if _, err := ParseTCString(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
