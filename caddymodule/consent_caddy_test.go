package caddymodule

import (
	"fmt"
	"net/http/cookiejar"
	"slices"
	"testing"
	"time"
)

// IAB TCF strings from the IAB's own decoder tests: purposes 2 and 10;
// purposes 3 to 9.
const (
	tcfWithout56 = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"
	tcfWith56    = "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA"
)

// consentSite forwards every change to open, and to personal only with
// the visitor's consent to personalisation (TCF purposes 5 and 6).
func consentSite(open, personal string) string {
	return siteConfigWith(fmt.Sprintf(`
		consent {
			cookie euconsent-v2 tcf
			purpose personalisation tcf-5 tcf-6
		}
		forward webhook %s {
			secret whsec
			name open
		}
		forward webhook %s {
			secret whsec
			name personal
			requires personalisation
		}
		hmac_key %s`, open, personal, testHMACKey), `respond "shop"`) + opsSite("", "")
}

// A visitor whose TC string lacks the purpose reaches the sink that
// requires nothing, never the one that requires it; with the purpose, both.
func TestConsentPerSinkThroughCaddy(t *testing.T) {
	open, openSrv := newReceiver(t)
	personal, personalSrv := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(consentSite(openSrv.URL, personalSrv.URL), "caddyfile")

	without := collect(t, tester, cartBody, "Cookie", "euconsent-v2="+tcfWithout56)
	waitFor(t, "the open sink's delivery", func() bool { return len(open.seen(without.ID)) > 0 })
	tester.Client.Jar, _ = cookiejar.New(nil) // another visitor
	with := collect(t, tester, cartBody, "Cookie", "euconsent-v2="+tcfWith56)
	waitFor(t, "both sinks' deliveries", func() bool { return len(open.seen(with.ID)) > 0 && len(personal.seen(with.ID)) > 0 })
	if got := personal.seen(without.ID); len(got) != 0 {
		t.Errorf("the sink requiring personalisation got %v of a visitor who did not consent to it", got)
	}
	if v := metricValue(metricsText(t, tester), `caddy_sessiontap_deliveries_total{outcome="no_consent",sink="personal"}`); v < 1 {
		t.Errorf("no_consent counted %v times", v)
	}
	if code, s := apiGet(t, tester, without.ID); code != 200 || s.Consent == nil || !s.Consent.Stated ||
		fmt.Sprint(s.Consent.Granted) != "[tcf-10 tcf-2]" {
		t.Errorf("the session's consent: %d %+v", code, s.Consent)
	}
}

// Consent withdrawn while an update waits for the sink: the waiting
// update is cancelled, and nothing after it goes either.
func TestConsentWithdrawnCancelsTheQueuedUpdate(t *testing.T) {
	open, openSrv := newReceiver(t)
	personal, personalSrv := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(consentSite(openSrv.URL, personalSrv.URL), "caddyfile")

	release := personal.hold()
	defer func() { release() }()
	first := collect(t, tester, cartBody, "Cookie", "euconsent-v2="+tcfWith56)
	select {
	case <-personal.arrived: // v1 in flight, held
	case <-time.After(5 * time.Second):
		t.Fatal("the first update never reached the sink")
	}
	queued := collect(t, tester, `{"cart":{"items":[{"product_id":"p2","quantity":1,"unit_price":2}]}}`, "Cookie", "euconsent-v2="+tcfWith56)
	withdrawn := collect(t, tester, `{"cart":{"items":[{"product_id":"p3","quantity":1,"unit_price":3}]}}`, "Cookie", "euconsent-v2="+tcfWithout56)
	waitFor(t, "the open sink's last version", func() bool { return slices.Contains(open.seen(first.ID), withdrawn.Version) })
	release()
	release = func() {}
	time.Sleep(500 * time.Millisecond) // time for what would still go
	got := personal.seen(first.ID)
	if len(got) != 1 || got[0] != first.Version {
		t.Errorf("after consent was withdrawn the sink got versions %v; want only v%d, in flight before (v%d was queued, v%d withdrew)",
			got, first.Version, queued.Version, withdrawn.Version)
	}
}
