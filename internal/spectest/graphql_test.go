package spectest

import (
	"strings"
	"testing"
)

// The schema check refuses what Nosto would: an unknown enum value, a
// missing required variable, a field the schema does not have, a wrong
// variable type. It takes a well-formed placeOrder.
func TestNostoSchemaRefusesWhatNostoWould(t *testing.T) {
	schema := NostoSchema(t)
	const place = `mutation P($by: LookupParams!, $id: String!, $items: [InputItem]!) {
  placeOrder(by: $by, id: $id, params: {customer: {}, order: {number: "1", orderStatus: "paid", paymentProvider: "x", ref: "1", purchasedItems: $items}}) { id }
}`
	ok := `{"query":` + quote(place) + `,"variables":{"by":"BY_REF","id":"h","items":[{"productId":"p","quantity":1,"unitPrice":9.5}]}}`
	if _, _, err := ValidateGraphQL(schema, []byte(ok)); err != nil {
		t.Fatalf("a well-formed placeOrder refused: %v", err)
	}
	for name, body := range map[string]string{
		"enum":     strings.Replace(ok, "BY_REF", "BY_EMAIL", 1),
		"missing":  strings.Replace(ok, `"id":"h",`, "", 1),
		"type":     strings.Replace(ok, `"quantity":1`, `"quantity":"one"`, 1),
		"required": strings.Replace(ok, `"productId":"p",`, "", 1),
		"field":    `{"query":` + quote(strings.Replace(place, "ref:", "reference:", 1)) + `,"variables":{"by":"BY_REF","id":"h","items":[]}}`,
	} {
		if _, _, err := ValidateGraphQL(schema, []byte(body)); err == nil {
			t.Errorf("%s: accepted %s", name, body)
		}
	}
}

func quote(s string) string {
	r := strings.NewReplacer(`"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
