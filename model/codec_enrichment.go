package model

import "google.golang.org/protobuf/encoding/protowire"

// The session's enrichment, encoded like the rest of codec.go:
// Session{30 enrichment} Enrichment{1 first_seen, 2 last_seen, 3 page_views,
// 4 landing_page, 5 referrer, 6 campaign, 7 client_ip, 8 user_agent,
// 9 accept_language} Campaign{1 utm_source, 2 utm_medium, 3 utm_campaign,
// 4 utm_term, 5 utm_content, 6 gclid, 7 fbclid, 8 msclkid, 9 nosto_source}

const sessionEnrichment protowire.Number = 30

func (e *Enrichment) appendBinary(b []byte) []byte {
	b = appendTime(b, 1, e.FirstSeen)
	b = appendTime(b, 2, e.LastSeen)
	b = appendVarint(b, 3, uint64(e.PageViews))
	b = appendString(b, 4, e.LandingPage)
	b = appendString(b, 5, e.Referrer)
	b = appendMessage(b, 6, false, e.Campaign.appendBinary)
	b = appendString(b, 7, e.ClientIP)
	b = appendString(b, 8, e.UserAgent)
	return appendString(b, 9, e.AcceptLanguage)
}

func (e *Enrichment) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case 1:
		return consumeVarint(typ, b, func(v uint64) { e.FirstSeen = unixNano(v) })
	case 2:
		return consumeVarint(typ, b, func(v uint64) { e.LastSeen = unixNano(v) })
	case 3:
		return consumeVarint(typ, b, func(v uint64) { e.PageViews = int(v) })
	case 4:
		return consumeString(typ, b, &e.LandingPage)
	case 5:
		return consumeString(typ, b, &e.Referrer)
	case 6:
		return consumeMessage(typ, b, e.Campaign.decodeField)
	case 7:
		return consumeString(typ, b, &e.ClientIP)
	case 8:
		return consumeString(typ, b, &e.UserAgent)
	case 9:
		return consumeString(typ, b, &e.AcceptLanguage)
	}
	return 0, nil
}

// fields lists the campaign's strings in field-number order.
func (c *Campaign) fields() [9]*string {
	return [9]*string{&c.Source, &c.Medium, &c.Name, &c.Term, &c.Content, &c.GCLID, &c.FBCLID, &c.MSCLKID, &c.NostoSource}
}

func (c *Campaign) appendBinary(b []byte) []byte {
	for i, f := range c.fields() {
		b = appendString(b, protowire.Number(i+1), *f)
	}
	return b
}

func (c *Campaign) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	if f := c.fields(); num >= 1 && int(num) <= len(f) {
		return consumeString(typ, b, f[num-1])
	}
	return 0, nil
}
