package tagging

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func dec(s string) model.Decimal {
	d, err := model.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func item(id string, qty int, price, name, cur string) model.CartItem {
	return model.CartItem{ProductID: id, Quantity: qty, UnitPrice: dec(price), Name: name, PriceCurrencyCode: cur}
}

// line renders a cart or order line item.
func line(id, qty, price, name string) string {
	return `<div class="line_item"><span class="product_id">` + id + `</span><span class="quantity">` + qty +
		`</span><span class="name">` + name + `</span><span class="unit_price">` + price +
		`</span><span class="price_currency_code">EUR</span></div>`
}

func cartOf(items ...model.CartItem) *Cart { return &Cart{Items: items} }

var shirt = item("A1", 2, "12.5", "Men's Shirt", "EUR")

// parseTests are also written to a Scanner in pieces by the split tests.
var parseTests = []struct {
	name string
	html string
	want Page
}{
	{"no tagging", `<html><body><div class="cart">x</div></body></html>`, Page{}},
	{"empty input", ``, Page{}},
	{"div tagging", `<div class="nosto_cart">` + line("A1", "2", "12.50", "Men&#39;s Shirt") + `</div>`,
		Page{Cart: cartOf(shirt)}},
	{"span and li tagging",
		`<span class="nosto_cart"><li class="line_item"><i class="product_id">A1</i><b class="quantity">2</b><em class="unit_price">12.50</em><p class="name">Men's Shirt</p><x-y class="price_currency_code">EUR</x-y></li></span>`,
		Page{Cart: cartOf(shirt)}},
	{"several classes, any order, quotes",
		`<div id=c class='tagging nosto_cart  hidden' style="display:none"><div data-x="a>b" class="col line_item"><span class=product_id>A1</span><span title='q' class="quantity x">2</span><span class="name">Men's Shirt</span><span class=unit_price>12.50</span><span class=price_currency_code>EUR</span></div></div>`,
		Page{Cart: cartOf(shirt)}},
	{"uppercase markup", `<DIV CLASS="nosto_cart"><DIV Class="line_item"><SPAN class="product_id">A1</SPAN><span class="quantity">2</span><span class="name">Men's Shirt</span><span class="unit_price">12.50</span><span class="price_currency_code">EUR</span></DIV></DIV>`,
		Page{Cart: cartOf(shirt)}},
	{"entities, newlines and nested elements",
		"<div class=\"nosto_cart\"><div class=\"line_item\">\n <span class=\"product_id\">\n A1\n</span><span class=\"quantity\"> 2&nbsp;</span>" +
			"<span class=\"name\"><b>Men&#39;s</b>\n\t  <i>Shirt</i> &amp; Tie&euro;</span><span class=\"unit_price\">\n  12.50\n</span><span class=\"price_currency_code\">EUR</span></div></div>",
		Page{Cart: cartOf(item("A1", 2, "12.5", "Men's Shirt & Tie€", "EUR"))}},
	{"wrappers inside and around tagging",
		`<div class="notranslate" translate="no"><section><div class="nosto_cart"><div class="row"><div class="line_item"><div class="col"><span class="product_id">A1</span></div><div class="col"><span class="quantity">2</span><span class="name">Men's Shirt</span><span class="unit_price">12.50</span><span class="price_currency_code">EUR</span></div></div></div></div></section></div>`,
		Page{Cart: cartOf(shirt)}},
	{"void elements, comments, script and style",
		`<div class="nosto_cart"><div class="line_item"><img src=x class="product_id"><span class="product_id">A<br>1</span><input value=3 class=quantity><span class="quantity">2<!-- 9 --></span><span class="name">Men's<script>document.write("<b>x</b>")</script> <style>.a{}</style>Shirt</span><span class="unit_price">12.50</span><span class="price_currency_code">EUR</span></div></div>`,
		Page{Cart: &Cart{}, Dropped: []string{"cart.line_item[0].product_id", "cart.line_item[0].quantity"}}},
	{"void element values are empty",
		`<div class="nosto_cart"><div class="line_item"><span class="product_id">A<br>1</span><span class="quantity">2<!-- 9 --></span><span class="name">Men's<script>document.write("<b>x</b>")</script> <style>.a{}</style>Shirt</span><span class="unit_price">12.50</span><span class="price_currency_code">EUR</span></div></div>`,
		Page{Cart: cartOf(shirt)}},
	{"tagging in script, style, comment, title, template and noscript is not tagging",
		`<title><div class="nosto_cart"></title><script>var t = '<div class="nosto_cart"></div>';</script><style>.nosto_cart{}</style><!-- <div class="nosto_cart"></div> --><template class="nosto_cart"><div class="nosto_cart"></div></template><noscript><div class="nosto_cart"></div></noscript><textarea><span class="nosto_customer"></span></textarea>`,
		Page{}},
	{"unclosed tags", `<div class="nosto_cart"><p>Your cart<div class="line_item"><span class="product_id">A1</span><span class="quantity">2</span><span class="name">Men's Shirt</span><span class="unit_price">12.50</span><span class="price_currency_code">EUR`,
		Page{Cart: cartOf(shirt)}},
	{"unclosed list items", `<ul class="nosto_cart"><li class="line_item"><span class="product_id">A1</span><span class="quantity">2</span><span class="unit_price">1</span><li class="line_item"><span class="product_id">B2</span><span class="quantity">1</span><span class="unit_price">2</span></ul>`,
		Page{Cart: cartOf(item("A1", 2, "1", "", ""), item("B2", 1, "2", "", ""))}},
	{"self-closing empty field", `<div class="nosto_cart"><div class="line_item"><span class="sku_id"/><span class="product_id">A1</span><span class="quantity">1</span><span class="unit_price">3</span></div></div>`,
		Page{Cart: cartOf(item("A1", 1, "3", "", ""))}},
	{"empty cart", `<div class="nosto_cart" style="display:none"></div>`, Page{Cart: &Cart{}}},
	{"self-closing empty cart", `<div class="nosto_cart"/><span class="nosto_page_type">cart</span>`, Page{Cart: &Cart{}, PageType: model.PageCart}},
	{"cart restore link and hcid", `<div class="nosto_cart"><span class="restore_link">https://x.example/r?a=1&amp;b=2</span><span class="hcid"> h1 </span></div>`,
		Page{Cart: &Cart{RestoreLink: "https://x.example/r?a=1&b=2", HCID: "h1"}}},
	{"two carts are ambiguous", `<div class="nosto_cart">` + line("A1", "2", "12.50", "Men's Shirt") + `</div><div class="nosto_cart"></div>`,
		Page{AmbiguousCart: true}},
	{"bad price drops the item", `<div class="nosto_cart">` + line("A1", "2", "12.50", "Men's Shirt") + line("B2", "1", "12,50 €", "Secret") + line("C3", "1", "-1", "") + `</div>`,
		Page{Cart: cartOf(shirt), Dropped: []string{"cart.line_item[1].unit_price", "cart.line_item[2].unit_price"}}},
	{"bad quantities and ids drop the item", `<div class="nosto_cart">` + line("A1", "0", "1", "") + line("A2", "1.5", "1", "") + line("", "1", "1", "") + line(strings.Repeat("x", 257), "1", "1", "") + line("A5", "2.0000", "1", "") + `</div>`,
		Page{Cart: cartOf(item("A5", 2, "1", "", "EUR")), Dropped: []string{"cart.line_item[0].quantity", "cart.line_item[1].quantity", "cart.line_item[2].product_id", "cart.line_item[3].product_id"}}},
	{"bad currency drops only the field", `<div class="nosto_cart"><div class="line_item"><span class="product_id">A1</span><span class="quantity">1</span><span class="unit_price">1</span><span class="price_currency_code">€</span></div></div>`,
		Page{Cart: cartOf(item("A1", 1, "1", "", "")), Dropped: []string{"cart.line_item[0].price_currency_code"}}},
	{"long name is cut", `<div class="nosto_cart"><div class="line_item"><span class="product_id">A1</span><span class="quantity">1</span><span class="unit_price">1</span><span class="name">` + strings.Repeat("é", 600) + `</span></div></div>`,
		Page{Cart: cartOf(item("A1", 1, "1", strings.Repeat("é", 512), ""))}},
	{"customer", `<div class="nosto_customer"><span class="email"> jane@example.com </span><span class="first_name">Jane</span><span class="last_name">O&#39;Neill</span><span class="customer_reference">ref-1</span><span class="marketing_permission">true</span><span class="customer_group">VIP</span><span class="hcid">h2</span></div>`,
		Page{Customer: &Customer{Customer: model.Customer{Email: "jane@example.com", FirstName: "Jane", LastName: "O'Neill", CustomerReference: "ref-1", MarketingPermission: true, CustomerGroup: "VIP"}, HCID: "h2"}}},
	{"customer without marketing permission", `<div class="nosto_customer"><span class="email">jane@example.com</span></div>`,
		Page{Customer: &Customer{Customer: model.Customer{Email: "jane@example.com"}}}},
	{"customer with bad values", `<div class="nosto_customer"><span class="email">not an email</span><span class="marketing_permission">yes</span></div>`,
		Page{Customer: &Customer{}, Dropped: []string{"customer.email", "customer.marketing_permission"}}},
	{"page fields", `<div class="nosto_page_type"> category </div><div class="nosto_variation">EUR</div><div class="nosto_category">/Men/Shirts &amp; Tops</div><div class="nosto_category">/Second</div><span class="nosto_search_term">red
				shirt</span>`,
		Page{PageType: model.PageCategory, Variation: "EUR", Category: "/Men/Shirts & Tops", SearchTerm: "red shirt"}},
	{"unknown page type", `<div class="nosto_page_type">brand</div>`, Page{Dropped: []string{"page_type"}}},
	{"product with skus and description", `<div class="nosto_product"><span class="nosto_sku"><span class="name">Red</span><span class="price">9.00</span></span>
			<span class="description"><p class="price">5.00</p></span><span class="custom_fields"><span class="name">Custom</span></span><span class="product_id">P1</span><span class="name">Shirt</span><span class="price">19.90</span><span class="price_currency_code">EUR</span><span class="nosto_sku"><span class="price">1.00</span></span></div>`,
		Page{Product: &Product{ProductID: "P1", Name: "Shirt", Price: dec("19.90"), PriceCurrencyCode: "EUR"}}},
	{"product without id", `<div class="nosto_product"><span class="name">Shirt</span><span class="price">1,00</span></div>`,
		Page{Dropped: []string{"product.price", "product.product_id"}}},
	{"order", `<div class="nosto_purchase_order"><span class="order_number">1445</span><div class="buyer"><span class="email">jack@example.com</span><span class="first_name">Jack</span><span class="last_name">Bauer</span><span class="marketing_permission">true</span></div><div class="purchased_items">` +
		line("A1", "2", "12.50", "Men's Shirt") + line("B2", "x", "1", "") + `</div></div><div class="nosto_cart"></div>`,
		Page{Cart: &Cart{}, Order: &Order{OrderNumber: "1445", Buyer: model.Customer{Email: "jack@example.com", FirstName: "Jack", LastName: "Bauer", MarketingPermission: true}, Items: []model.CartItem{shirt}},
			Dropped: []string{"order.line_item[1].quantity"}}},
	{"order status", `<div class="nosto_purchase_order"><span class="order_number">1446</span><span class="order_status_code">pending</span>` +
		`<span class="order_status_label">Pending payment</span><span class="payment_provider">checkmo</span><span class="external_order_ref">M2-1446</span></div>`,
		Page{Order: &Order{OrderNumber: "1446", StatusCode: "pending", PaymentProvider: "checkmo", ExternalRef: "M2-1446"}}},
	{"tagging inside other tagging is ignored", `<div class="nosto_customer"><div class="nosto_cart">` + line("A1", "2", "1", "") + `</div></div>`,
		Page{Customer: &Customer{}}},
	// Script data escapes, as a browser reads them: after "<!--" in a script
	// a "<script" opens the double-escaped state, whose "</script" does not
	// end the element; "-->" ends both states. Style and RCDATA have none.
	{"script double-escaped", `<script><!--<script>x</script><div class="nosto_page_type">cart</div>--></script><div class="nosto_variation">EUR</div>`,
		Page{Variation: "EUR"}},
	{"script escaped end tag ends it", `<script><!--</script><div class="nosto_page_type">cart</div>-->`, Page{PageType: model.PageCart}},
	{"script comment closed inside", `<script><!-- --></script><div class=nosto_page_type>cart</div>`, Page{PageType: model.PageCart}},
	{"script escapes in any case", `<SCRIPT><!--<ScRiPt>x</SCRIPT><div class=nosto_page_type>cart</div>--></sCrIpT><div class=nosto_variation>EUR</div>`,
		Page{Variation: "EUR"}},
	{"script end tags with attributes and whitespace", `<script><!--<script/>x</script foo="bar>"><div class=nosto_page_type>cart</div>--></script` + "\n" + ` data-x=">"><div class=nosto_variation>EUR</div>`,
		Page{Variation: "EUR"}},
	{"script left open by an escape", `<script><!--<script></script>--><div class=nosto_page_type>cart</div>`, Page{}},
	{"script --> ends the double escape", `<script><!-- <script> --> </script><div class=nosto_page_type>cart</div>`, Page{PageType: model.PageCart}},
	{"script <!--> escapes nothing", `<script><!--><script></script><div class=nosto_page_type>cart</div>`, Page{PageType: model.PageCart}},
	{"script only <script opens the double escape", `<script><!--<scripts></script><div class=nosto_page_type>cart</div>`, Page{PageType: model.PageCart}},
	{"script legacy document.write", "<script type=\"text/javascript\"><!--\ndocument.write('<script src=\"/a.js\"><\\/script>');\n//--></script><div class=nosto_page_type>cart</div>",
		Page{PageType: model.PageCart}},
	{"script < before <script while escaped", `<script><!--<<script></script><div class=nosto_page_type>cart</div>--></script><div class=nosto_variation>EUR</div>`,
		Page{Variation: "EUR"}},
	{"style has no escapes", `<style><!--<style></style><div class=nosto_page_type>cart</div>--></style>`, Page{PageType: model.PageCart}},
	{"textarea has no escapes", `<textarea><!--</textarea><div class=nosto_page_type>cart</div>-->`, Page{PageType: model.PageCart}},
	{"end tag cut by the end of the page is text", `<span class=nosto_search_term><textarea>red</textarea`, Page{SearchTerm: "red</textarea"}},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse([]byte(tt.html)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestDroppedHasNoValues(t *testing.T) {
	page := Parse([]byte(`<div class="nosto_cart">` + line("SECRET-ID", "1", "SECRET", "SECRET") + `</div><div class="nosto_customer"><span class="email">SECRET</span></div>`))
	if len(page.Dropped) != 2 {
		t.Fatalf("Dropped = %q", page.Dropped)
	}
	for _, d := range page.Dropped {
		if strings.Contains(d, "SECRET") {
			t.Errorf("Dropped entry %q carries a value", d)
		}
	}
}

func TestTooManyItems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<div class="nosto_cart">`)
	for range maxItems + 5 {
		b.WriteString(line("A", "1", "1", ""))
	}
	b.WriteString(`</div>`)
	page := Parse([]byte(b.String()))
	if n := len(page.Cart.Items); n != maxItems {
		t.Errorf("kept %d items, want %d", n, maxItems)
	}
	if want := []string{"cart.line_item[1000:]"}; !reflect.DeepEqual(page.Dropped, want) {
		t.Errorf("Dropped = %q, want %q", page.Dropped, want)
	}
}

func TestDroppedIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<div class="nosto_cart">`)
	for range 500 {
		b.WriteString(line("A", "1", "bad", ""))
	}
	page := Parse([]byte(b.String()))
	if n := len(page.Dropped); n != maxDropped || page.Dropped[n-1] != "more" {
		t.Errorf("Dropped has %d entries ending %q", n, page.Dropped[n-1])
	}
}

func dump(p Page) string {
	s := fmt.Sprintf("%+v", p)
	for _, v := range []any{p.Cart, p.Customer, p.Product, p.Order} {
		if !reflect.ValueOf(v).IsNil() {
			s += fmt.Sprintf(" %+v", v)
		}
	}
	return s
}
