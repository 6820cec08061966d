package caddymodule

import (
	"strings"
	"testing"
)

// Two sinks of one kind are told apart in stats and metrics: by their
// name, or by their kind made unique.
func TestForwardLabelsInStatsAndMetrics(t *testing.T) {
	_, a := newReceiver(t)
	_, b := newReceiver(t)
	_, c := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(siteConfig(`
		forward webhook `+a.URL+` {
			secret whsec
		}
		forward webhook `+b.URL+` {
			secret whsec
		}
		forward webhook `+c.URL+` {
			secret whsec
			name crm
		}`, "shop"), "caddyfile")
	collect(t, tester, cartBody)
	want := []string{"webhook", "webhook-2", "crm"}
	waitFor(t, "a delivery to every sink", func() bool {
		delivered := map[string]bool{}
		for _, e := range adminStats(t, tester).Engines {
			for _, s := range e.Sinks {
				delivered[s.Name] = s.Delivered >= 1
			}
		}
		return delivered["webhook"] && delivered["webhook-2"] && delivered["crm"] && len(delivered) == 3
	})
	m := metricsText(t, tester)
	for _, name := range want {
		if metricValue(m, `caddy_sessiontap_deliveries_total{outcome="delivered",sink="`+name+`"}`) < 1 {
			t.Errorf("no delivered count for sink %q", name)
		}
	}
}

func TestForwardNameErrors(t *testing.T) {
	for block, want := range map[string]string{
		"\t\tforward webhook https://a.example.com {\n\t\t\tsecret s\n\t\t\tname crm\n\t\t}\n" +
			"\t\tforward webhook https://b.example.com {\n\t\t\tsecret s\n\t\t\tname crm\n\t\t}": `forward webhook: name "crm" is taken by another forward, at Caddyfile:9`,
		"\t\tforward webhook https://a.example.com {\n\t\t\tsecret s\n\t\t\tname \"my crm\"\n\t\t}": `forward webhook: name "my crm": use letters, digits, - and _, at Caddyfile:5`,
	} {
		err := validateCaddyfile(t, site(block))
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, want)
		}
	}
}

func TestDeliveryMaxBackoff(t *testing.T) {
	out, err := adaptCaddyfile(site("\t\tdelivery {\n\t\t\tmax_backoff 2m\n\t\t}"))
	if err != nil || !strings.Contains(string(out), `"max_backoff":120000000000`) {
		t.Fatalf("%v %s", err, out)
	}
}
