package tagging

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The 100 KiB product page is generated, so that it is reviewable as code
// and cannot drift from the test that expects its values. Regenerate with
//
//	go test ./tagging -run TestFixtures -update
var update = flag.Bool("update", false, "rewrite generated testdata files")

const productPageFile = "testdata/product-100k.html"

func TestFixtures(t *testing.T) {
	want := productPage()
	if *update {
		if err := os.WriteFile(productPageFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readFixture(t, filepath.Base(productPageFile))
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test -run TestFixtures -update", productPageFile)
	}
	if n := len(got); n < 95<<10 || n > 110<<10 {
		t.Errorf("product page is %d bytes, want about 100 KiB", n)
	}
	if n := len(readFixture(t, "page-7k.html")); n < 6<<10 || n > 8<<10 {
		t.Errorf("page-7k.html is %d bytes, want about 7 KiB", n)
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// productPage renders a Magento-like product page: head with styles and
// scripts (some mentioning nosto_ in strings), mega menu, gallery, a
// storefront price box using class "price", description, reviews, a
// related-products grid, footer, and the Nosto tagging near the bottom.
func productPage() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pageHead(w)
	w("<body data-container=\"body\" class=\"catalog-product-view product-men-running-shirt page-layout-1column\">\n")
	w("<div class=\"cookie-status-message\" id=\"cookie-status\">The store will not work correctly when cookies are disabled.</div>\n")
	megaMenu(w)
	productMain(w)
	related(w)
	footer(w)
	tagging(w)
	w("<script type=\"text/javascript\" src=\"//connect.nosto.com/include/shop-9xk2b\" async></script>\n")
	w("<script>window.nostojs=window.nostojs||function(c){(window.nostojs.q=window.nostojs.q||[]).push(c)};\n")
	w("nostojs(function(api){api.setAutoLoad(false);api.listen('taggingsent',function(){document.body.classList.add('nosto_ready')});api.load();});</script>\n")
	w("</body>\n</html>\n")
	return b.Bytes()
}

type writer func(format string, args ...any)

func pageHead(w writer) {
	w("<!doctype html>\n<html lang=\"de\">\n<head >\n<meta charset=\"utf-8\"/>\n")
	w("<meta name=\"title\" content=\"Men&#39;s Running Shirt &quot;Aero&quot; | Tap &amp; Run\"/>\n")
	w("<meta name=\"robots\" content=\"INDEX,FOLLOW\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	for _, p := range []string{"og:type product", "og:title Men's Running Shirt", "og:image https://cdn.example.com/media/catalog/product/m/r/mrs-aero-blue.jpg", "product:price:amount 1299.00", "product:price:currency EUR"} {
		k, v, _ := strings.Cut(p, " ")
		w("<meta property=\"%s\" content=\"%s\"/>\n", k, v)
	}
	w("<title>Men&#39;s Running Shirt &ldquo;Aero&rdquo; | Tap &amp; Run</title>\n")
	for i := range 12 {
		w("<link  rel=\"stylesheet\" type=\"text/css\"  media=\"all\" href=\"https://www.example.com/static/version1718000000/frontend/Tap/run/de_DE/css/styles-%d.css\" />\n", i)
	}
	w("<style>\n")
	for i := range 100 {
		w(".product-info-main .box-tocart .field.qty-%d,.page-wrapper .block-%d>.title{margin:0 0 %dpx;padding:.%drem 1rem;border:1px solid #e%dd;font:400 1.4rem/1.42 'Open Sans',sans-serif}\n", i, i, i%30, i%9, i%10)
	}
	w("</style>\n<script type=\"text/x-magento-init\">\n{\"*\":{\"Magento_PageCache/js/form-key-provider\":{\"isPaginationCacheEnabled\":0},\"mage/cookies\":{\"expires\":null,\"path\":\"\\u002F\",\"domain\":\".example.com\",\"secure\":true,\"lifetime\":\"3600\"}}}\n</script>\n")
	w("<script>\n// Templates in strings are not markup: none of this is tagging.\nvar tpl = '<div class=\"nosto_cart\"><div class=\"line_item\"><span class=\"product_id\">' + id + '</span></div></div>';\n")
	w("var nosto_settings = {account: 'shop-9xk2b', lazy: true, cartSelector: '.nosto_cart'};\nif (a < b && c > d) { render('</div>'); }\n")
	for i := range 40 {
		w("require.config({map:{'*':{'widget%d':'Magento_Theme/js/view/widget-%d'}},shim:{'jquery/ui-%d':{deps:['jquery']}}});\n", i, i, i)
	}
	w("</script>\n<script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\"@type\":\"Product\",\"name\":\"Men's Running Shirt\",\"sku\":\"MRS-AERO\",\"offers\":{\"@type\":\"Offer\",\"price\":\"1299.00\",\"priceCurrency\":\"EUR\"}}</script>\n")
	w("</head>\n")
}

var categories = []string{"Damen", "Herren", "Kinder", "Laufen", "Outdoor", "Fitness", "Schuhe", "Sale"}

func megaMenu(w writer) {
	w("<div class=\"page-wrapper\"><header class=\"page-header\"><div class=\"panel wrapper\"><div class=\"panel header\"><a class=\"action skip contentarea\" href=\"#contentarea\"><span>Zum Inhalt springen</span></a>\n")
	w("<ul class=\"header links\"><li class=\"greet welcome\" data-bind=\"scope: 'customer'\"><!-- ko if: customer().fullname  --><span class=\"logged-in\" data-bind=\"text: new String('Willkommen, %%1!').replace('%%1', customer().fullname)\"></span><!-- /ko --></li>\n")
	w("<li class=\"link authorization-link\"><a href=\"https://www.example.com/customer/account/logout/\">Abmelden</a></li></ul></div></div>\n")
	w("<nav class=\"navigation\" data-action=\"navigation\"><ul data-mage-init='{\"menu\":{\"responsive\":true, \"expanded\":true, \"position\":{\"my\":\"left top\",\"at\":\"left bottom\"}}}'>\n")
	for i, c := range categories {
		w("<li  class=\"level0 nav-%d category-item level-top parent\"><a href=\"https://www.example.com/%s.html\"  class=\"level-top\" ><span>%s</span></a><ul class=\"level0 submenu\">\n", i+1, c, c)
		for j := range 12 {
			w("<li  class=\"level1 nav-%d-%d category-item\"><a href=\"https://www.example.com/%s/kategorie-%d.html\" ><span>%s Kategorie %d</span></a></li>\n", i+1, j+1, c, j, c, j)
		}
		w("</ul></li>\n")
	}
	w("</ul></nav></header>\n")
}

func productMain(w writer) {
	w("<main id=\"maincontent\" class=\"page-main\"><div class=\"breadcrumbs\"><ul class=\"items\"><li class=\"item home\"><a href=\"/\" title=\"Zur Startseite\">Startseite</a></li><li class=\"item category\"><a href=\"/herren.html\">Herren</a></li><li class=\"item product\"><strong>Men&#39;s Running Shirt</strong></li></ul></div>\n")
	w("<div class=\"columns\"><div class=\"column main\"><div class=\"product media\"><div class=\"gallery-placeholder _block-content-loading\" data-gallery-role=\"gallery-placeholder\">\n")
	for i := range 6 {
		w("<img alt=\"Men&#39;s Running Shirt, Ansicht %d\" src=\"https://cdn.example.com/media/catalog/product/cache/1/image/700x700/mrs-aero-%d.jpg\" srcset=\"https://cdn.example.com/mrs-aero-%d-2x.jpg 2x\" loading=lazy width=700 height=700>\n", i, i, i)
	}
	w("</div></div>\n<div class=\"product-info-main\"><div class=\"page-title-wrapper product\"><h1 class=\"page-title\"><span class=\"base\" data-ui-id=\"page-title-wrapper\" itemprop=\"name\">Men&#39;s Running Shirt &ldquo;Aero&rdquo;</span></h1></div>\n")
	w("<div class=\"price-box price-final_price\" data-role=\"priceBox\" data-product-id=\"1802\"><span class=\"price-container price-final_price tax weee\"><span id=\"product-price-1802\" data-price-amount=\"1299\" class=\"price-wrapper \"><span class=\"price\">1.299,00&nbsp;&euro;</span></span></span></div>\n")
	w("<div class=\"swatch-opt\" data-role=\"swatch-options\">")
	for i, c := range []string{"Blau", "Rot", "Schwarz", "Weiß"} {
		w("<div class=\"swatch-option color\" id=\"option-label-color-93-item-%d\" data-option-label=\"%s\" tabindex=\"0\"><svg class=\"icon\" viewBox=\"0 0 24 24\" aria-hidden=\"true\"><use href=\"#icon-check\"/><path d=\"M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z\"/></svg></div>", i, c)
	}
	w("</div>\n<form data-product-sku=\"MRS-AERO\" action=\"https://www.example.com/checkout/cart/add/uenc/aHR0cHM6Ly93d3cuZXhhbXBsZS5jb20,/product/1802/\" method=\"post\" id=\"product_addtocart_form\"><input type=\"hidden\" name=\"product\" value=\"1802\" /><input name=\"form_key\" type=\"hidden\" value=\"Xq3nT0mLk2pR7vZa\" />\n")
	w("<div class=\"field qty\"><label class=\"label\" for=\"qty\"><span>Menge</span></label><input type=\"number\" name=\"qty\" id=\"qty\" min=\"0\" value=\"1\" title=\"Menge\" class=\"input-text qty\" data-validate=\"{&quot;required-number&quot;:true,&quot;validate-item-quantity&quot;:{&quot;maxAllowed&quot;:10000}}\"></div>\n")
	w("<button type=\"submit\" title=\"In den Warenkorb\" class=\"action primary tocart\" id=\"product-addtocart-button\" disabled><span>In den Warenkorb</span></button></form></div>\n")
	w("<div class=\"product info detailed\"><div class=\"data item content\" id=\"description\"><div class=\"product attribute description\"><div class=\"value\">\n")
	for i := range 8 {
		w("<p>Das Aero-Laufshirt ist leicht &amp; atmungsaktiv. Absatz %d: Flachnähte verhindern Scheuern, reflektierende Details sorgen für Sichtbarkeit bei Dämmerung.\n", i)
	}
	w("<div class=\"care\">Pflegehinweise: 30&deg; Wäsche, nicht bügeln.</div></div></div></div>\n<table class=\"data table additional-attributes\"><tbody>\n")
	for _, r := range []string{"Material|100% Polyester", "Passform|Regular", "Gewicht|120 g", "Artikelnummer|MRS-AERO"} {
		k, v, _ := strings.Cut(r, "|")
		w("<tr><th class=\"col label\" scope=\"row\">%s</th><td class=\"col data\" data-th=\"%s\">%s</td></tr>\n", k, k, v)
	}
	w("</tbody></table>\n<div id=\"product-review-container\"><ol class=\"items review-items\">\n")
	for i := range 12 {
		w("<li class=\"item review-item\" itemscope itemprop=\"review\" itemtype=\"http://schema.org/Review\"><div class=\"review-title\" itemprop=\"name\">Super Shirt #%d</div><div class=\"review-ratings\"><div class=\"rating-summary\"><span class=\"rating-label\"><span>Bewertung</span></span><div class=\"rating-result\" title=\"%d%%\"><span style=\"width:%d%%\"><span itemprop=\"ratingValue\">%d%%</span></span></div></div></div>", i, 60+i*3, 60+i*3, 60+i*3)
		w("<div class=\"review-content\" itemprop=\"description\">Passt gut, l&auml;uft sich angenehm &ndash; auch bei 30&#8239;&deg;C. Nach %d W&auml;schen wie neu.</div><div class=\"review-details\"><p class=\"review-author\"><span class=\"review-details-label\">Bewertung von</span><strong class=\"review-details-value\" itemprop=\"author\">Kunde %d</strong></p></div></li>\n", i+2, i)
	}
	w("</ol></div></div></div></div>\n")
}

func related(w writer) {
	w("<div class=\"block related\" data-mage-init='{\"relatedProducts\":{\"relatedCheckbox\":\".related.checkbox\"}}'><div class=\"block-title title\"><strong id=\"block-related-heading\" role=\"heading\" aria-level=\"2\">Ähnliche Produkte</strong></div>\n<ol class=\"products list items product-items\">\n")
	for i := range 24 {
		id := 1900 + i
		w("<li class=\"item product product-item\"><div class=\"product-item-info related-available\"><a href=\"https://www.example.com/laufshirt-%d.html\" class=\"product photo product-item-photo\"><span class=\"product-image-container product-image-container-%d\" style=\"width:240px\"><span class=\"product-image-wrapper\"><img class=\"product-image-photo\" src=\"https://cdn.example.com/media/catalog/product/cache/2/small_image/240x300/laufshirt-%d.jpg\" loading=\"lazy\" width=\"240\" height=\"300\" alt=\"Laufshirt Modell %d\"/></span></span></a>\n", id, id, id, id)
		w("<div class=\"product details product-item-details\"><strong class=\"product name product-item-name\"><a class=\"product-item-link\" title=\"Laufshirt Modell %d\" href=\"https://www.example.com/laufshirt-%d.html\">Laufshirt Modell %d</a></strong><div class=\"price-box price-final_price\" data-role=\"priceBox\" data-product-id=\"%d\" data-price-box=\"product-id-%d\"><span class=\"price-container price-final_price tax weee\"><span id=\"product-price-%d\" data-price-amount=\"%d.95\" data-price-type=\"finalPrice\" class=\"price-wrapper \"><span class=\"price\">%d,95&nbsp;&euro;</span></span></span></div>\n", i, id, i, id, id, id, 20+i, 20+i)
		w("<div class=\"product actions product-item-actions\"><div class=\"actions-primary\"><button class=\"action tocart primary\" data-mage-init='{\"redirectUrl\": {\"url\": \"https://www.example.com/checkout/cart/add/product/%d/\"}}' type=\"button\" title=\"In den Warenkorb\"><span>In den Warenkorb</span></button></div><div class=\"secondary-addto-links actions-secondary\" data-role=\"add-to-links\"><a href=\"#\" class=\"action towishlist\" data-action=\"add-to-wishlist\" title=\"Auf die Wunschliste\"><span>Auf die Wunschliste</span></a></div></div></div></div></li>\n", id)
	}
	w("</ol></div></main>\n")
}

func footer(w writer) {
	w("<footer class=\"page-footer\"><div class=\"footer content\"><div class=\"block newsletter\"><form class=\"form subscribe\" novalidate action=\"https://www.example.com/newsletter/subscriber/new/\" method=\"post\" id=\"newsletter-validate-detail\"><input name=\"email\" type=\"email\" id=\"newsletter\" placeholder=\"E-Mail-Adresse\" data-validate=\"{required:true, 'validate-email':true}\"/><button class=\"action subscribe primary\" title=\"Abonnieren\" type=\"submit\"><span>Abonnieren</span></button></form></div>\n<ul class=\"footer links\">")
	for _, l := range []string{"Über uns", "Kundenservice", "Versand &amp; Lieferung", "Datenschutz", "Impressum", "AGB", "Widerrufsrecht", "Suchbegriffe", "Erweiterte Suche", "Kontakt"} {
		w("<li class=\"nav item\"><a href=\"https://www.example.com/%d/\">%s</a></li>", len(l), l)
	}
	w("</ul><small class=\"copyright\"><span>&copy; 2026 Tap &amp; Run GmbH</span></small></div></footer>\n")
	w("<!-- Nosto tagging. <div class=\"nosto_cart\"> in a comment is not tagging. -->\n")
}

// tagging is the Nosto tagging the tests expect to find.
func tagging(w writer) {
	w("<div class=\"notranslate\" translate=\"no\">\n<div class=\"nosto_page_type\" style=\"display:none\">product</div>\n<div class=\"nosto_variation\" style=\"display:none\">EUR</div>\n")
	w("<div class=\"nosto_product\" style=\"display:none\">\n  <span class=\"url\">https://www.example.com/men-running-shirt.html</span>\n  <span class=\"product_id\">1802</span>\n")
	w("  <span class=\"name\">Men&#39;s Running Shirt\n    &ldquo;Aero&rdquo;</span>\n  <span class=\"image_url\">https://cdn.example.com/media/catalog/product/m/r/mrs-aero-blue.jpg</span>\n")
	w("  <span class=\"price\">1299.00</span>\n  <span class=\"list_price\">1499.00</span>\n  <span class=\"price_currency_code\">EUR</span>\n  <span class=\"availability\">InStock</span>\n")
	w("  <span class=\"category\">/Herren</span>\n  <span class=\"category\">/Herren/Laufen</span>\n  <span class=\"brand\">Tap &amp; Run</span>\n")
	w("  <span class=\"description\"><p>Leicht &amp; schnell.<p>Statt <span class=\"price\">1499.00</span> nur heute.</span>\n")
	w("  <span class=\"custom_fields\"><span class=\"material\">Polyester</span><span class=\"name\">Aero</span></span>\n")
	for i, c := range []string{"Blau", "Rot", "Schwarz", "Weiß"} {
		w("  <span class=\"nosto_sku\"><span class=\"id\">1802-%d</span><span class=\"name\">%s</span><span class=\"price\">%d.00</span><span class=\"availability\">InStock</span><span class=\"custom_fields\"><span class=\"color\">%s</span></span></span>\n", i, c, 1199+i*10, c)
	}
	w("</div>\n<div class=\"nosto_cart\" style=\"display:none\">\n")
	w("  <div class=\"line_item\"><span class=\"product_id\">1802</span><span class=\"sku_id\">1802-0</span><span class=\"quantity\">1</span><span class=\"name\">Men&#39;s Running Shirt</span><span class=\"unit_price\">1199.00</span><span class=\"price_currency_code\">EUR</span></div>\n")
	w("  <div class=\"line_item\"><span class=\"product_id\">2207</span><span class=\"quantity\">2</span><span class=\"name\">Laufsocken 3er-Pack</span><span class=\"unit_price\">14.95</span><span class=\"price_currency_code\">EUR</span></div>\n")
	w("  <span class=\"restore_link\">https://www.example.com/nosto/cart/restore/h/d41d8cd98f00b204/</span>\n</div>\n")
	w("<div class=\"nosto_customer\" style=\"display:none\"><span class=\"email\">jane.doe@example.com</span><span class=\"first_name\">Jane</span><span class=\"last_name\">Doe</span><span class=\"customer_reference\">c-5e3d4a9c</span><span class=\"marketing_permission\">true</span></div>\n</div>\n")
}
