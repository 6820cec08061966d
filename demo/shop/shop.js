// sessiontap demo shop: vanilla JS, no build step, no external resources.
//
// The cart lives in localStorage. sessiontap treats every cart it receives
// as a 1:1 replacement (Nosto's setCart semantics), so every change posts
// the WHOLE cart to the first-party collect endpoint, never a delta.
(function () {
  "use strict";

  var COLLECT_URL = "/_sessiontap/collect";
  // A page of the shop that shows the session as sessiontap hands it to
  // the shop (request headers from Caddyfile.example's header_up lines).
  var SESSION_PANEL = "/session.html";
  var CART_KEY = "sessiontap_demo_cart";
  var LAST_KEY = "sessiontap_demo_last"; // last collect outcome, shown on every page

  // ---- cart in localStorage -------------------------------------------

  function loadCart() {
    try {
      var cart = JSON.parse(localStorage.getItem(CART_KEY));
      if (cart && Array.isArray(cart.items)) return cart;
    } catch (e) { /* corrupt or missing: start over */ }
    return { items: [] };
  }

  function saveCart(cart) {
    localStorage.setItem(CART_KEY, JSON.stringify(cart));
    updateCartCount();
  }

  function cartCount(cart) {
    return cart.items.reduce(function (n, it) { return n + it.quantity; }, 0);
  }

  function updateCartCount() {
    var el = document.getElementById("cart-count");
    if (el) el.textContent = String(cartCount(loadCart()));
  }

  // Prices are added up in cents so that 0.1 + 0.2 stays 0.30.
  function formatMoney(amount, currency) {
    var cents = Math.round(amount * 100);
    return (cents / 100).toFixed(2) + " " + (currency || "");
  }

  // ---- talking to sessiontap --------------------------------------------

  // post sends body to the collect endpoint and shows the outcome.
  function post(body) {
    var json = JSON.stringify(body);
    return fetch(COLLECT_URL, {
      method: "POST",
      credentials: "same-origin", // the sessiontap_id cookie rides along
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: json
    }).then(function (res) {
      // Collect tells back only the session's version (200), or 204 for a
      // visitor sessiontap does not track.
      if (res.status === 204) {
        return { kind: "off", sent: json };
      }
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
        if (res.ok && data) return { kind: "ok", sent: json, data: data };
        if (data && data.error) {
          return { kind: "err", sent: json, status: res.status, error: data.error, field: data.field };
        }
        return {
          kind: "err", sent: json, status: res.status,
          error: res.status === 404 || res.status === 405
            ? "collect endpoint not found: open the shop through Caddy with sessiontap (http://localhost:8080), not directly"
            : "unexpected response " + res.status
        };
      });
    }, function (err) {
      return { kind: "err", sent: json, error: "network error: " + err.message };
    }).then(function (outcome) {
      outcome.at = new Date().toISOString();
      try { localStorage.setItem(LAST_KEY, JSON.stringify(outcome)); } catch (e) { /* quota */ }
      renderStatus(outcome);
      if (outcome.kind === "ok") showStored();
      return outcome;
    });
  }

  // ---- status panel -----------------------------------------------------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderStatus(o) {
    var panel = document.getElementById("sessiontap-status");
    if (!panel) return;
    panel.textContent = "";
    panel.className = "status";
    panel.appendChild(el("h2", null, o && o.at ? "Last update this browser sent (" + new Date(o.at).toLocaleTimeString() + ")" : "sessiontap"));
    if (!o) {
      panel.appendChild(el("p", { "class": "msg" }, "Nothing sent yet. Add something to the cart."));
      return;
    }
    panel.classList.add(o.kind);
    if (o.kind === "off") {
      panel.appendChild(el("p", { "class": "msg off" }, "tracking is off (Do Not Track)"));
      panel.appendChild(el("p", null,
        "The collect endpoint answered 204: your browser sends Do Not Track / Global Privacy Control (or you opted out), so nothing was stored."));
    } else if (o.kind === "err") {
      var msg = "Rejected" + (o.status ? " (" + o.status + ")" : "") + ": " + o.error;
      if (o.field) msg += " [field " + o.field + "]";
      panel.appendChild(el("p", { "class": "msg err" }, msg));
    } else {
      panel.appendChild(el("p", { "class": "msg ok" }, "Stored."));
      var dl = el("dl");
      dl.appendChild(el("dt", null, "session id"));
      dl.appendChild(el("dd", { id: "session-id" }, pageSessionID()));
      dl.appendChild(el("dt", null, "version"));
      dl.appendChild(el("dd", null, String(o.data.version)));
      panel.appendChild(dl);
    }
    if (o.sent) {
      var sent = el("details");
      sent.appendChild(el("summary", null, "Request body sent to " + COLLECT_URL));
      sent.appendChild(el("pre", null, JSON.stringify(JSON.parse(o.sent), null, 2)));
      panel.appendChild(sent);
    }
  }

  // showStored shows the session as it stands now: the shop's own page
  // SESSION_PANEL, rendered from what sessiontap hands the shop with each
  // request. Its values are escaped by the template; the fragment is
  // parsed as inert HTML (no script runs) and moved in.
  var panelRequests = 0;
  function showStored() {
    var box = document.getElementById("sessiontap-stored");
    if (!box) return;
    // Only the newest request's answer is shown: an older one that arrives
    // late would show the session as it was.
    var mine = ++panelRequests;
    var current = function () { return mine === panelRequests ? null : Promise.reject("superseded"); };
    fetch(SESSION_PANEL, { credentials: "same-origin", cache: "no-store" })
      .then(function (res) { return res.ok ? res.text() : Promise.reject(new Error("the shop answered " + res.status)); })
      .then(function (html) { return current() || html; })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        box.textContent = "";
        Array.prototype.slice.call(doc.body.childNodes).forEach(function (n) { box.appendChild(document.adoptNode(n)); });
      }, function (err) {
        if (err === "superseded") return;
        box.textContent = "";
        box.appendChild(el("p", { "class": "msg" }, "No session shown yet (" + err.message + ")."));
      });
  }

  function renderLastStatus() {
    var last = null;
    try { last = JSON.parse(localStorage.getItem(LAST_KEY)); } catch (e) { /* none */ }
    renderStatus(last);
  }

  // The page's own session id, which sessiontap hands the shop in a
  // request header and the page template puts in a meta tag.
  function pageSessionID() {
    var m = document.querySelector('meta[name="sessiontap-id"]');
    return m ? m.getAttribute("content") : "";
  }

  // ---- product page -------------------------------------------------------

  // The product is read from the page's own Nosto tagging, so the tagging a
  // capture feature sees and the item we post can never disagree.
  function taggedProduct() {
    var tag = document.querySelector(".nosto_product");
    if (!tag) return null;
    var text = function (cls) {
      var n = tag.querySelector("." + cls);
      return n ? n.textContent.trim() : "";
    };
    return {
      product_id: text("product_id"),
      name: text("name"),
      unit_price: Number(text("price")),
      price_currency_code: text("price_currency_code")
    };
  }

  function initProductPage() {
    var form = document.getElementById("add-to-cart");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var p = taggedProduct();
      var qty = parseInt(form.elements.quantity.value, 10);
      if (!p || !(qty > 0)) return;
      var sku = form.elements.sku ? form.elements.sku.value : "";

      var cart = loadCart();
      var line = cart.items.find(function (it) {
        return it.product_id === p.product_id && (it.sku_id || "") === sku;
      });
      if (line) {
        line.quantity += qty;
      } else {
        line = { product_id: p.product_id };
        if (sku) line.sku_id = sku;
        line.name = p.name;
        line.quantity = qty;
        line.unit_price = p.unit_price;
        line.price_currency_code = p.price_currency_code;
        cart.items.push(line);
      }
      saveCart(cart);

      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      post({ cart: cart, page_type: "product", action: "viewProduct" })
        .then(function () { button.disabled = false; });
    });
  }

  // ---- cart page ------------------------------------------------------------

  function postCart(cart) {
    if (cart.items.length === 0) {
      return post({ cart: {} }); // an empty cart resets the session's cart
    }
    return post({ cart: cart, page_type: "cart", action: "viewCart" });
  }

  function renderCart() {
    var body = document.getElementById("cart-body");
    if (!body) return;
    var cart = loadCart();
    var table = document.getElementById("cart-table");
    var empty = document.getElementById("cart-empty");
    body.textContent = "";
    table.hidden = cart.items.length === 0;
    empty.hidden = cart.items.length !== 0;

    var totalCents = 0, currency = "";
    cart.items.forEach(function (it, i) {
      var tr = el("tr");
      var name = it.name + (it.sku_id ? " (SKU " + it.sku_id + ")" : "");
      tr.appendChild(el("td", null, name));
      tr.appendChild(el("td", { "class": "num" }, formatMoney(it.unit_price, it.price_currency_code)));

      var qtyCell = el("td", { "class": "num" });
      var qty = el("input", { type: "number", min: "0", max: "999", step: "1", "aria-label": "quantity of " + it.name });
      qty.value = String(it.quantity);
      qty.addEventListener("change", function () {
        var n = parseInt(qty.value, 10);
        var c = loadCart();
        if (!(n > 0)) c.items.splice(i, 1); else c.items[i].quantity = n;
        saveCart(c);
        renderCart();
        postCart(c);
      });
      qtyCell.appendChild(qty);
      tr.appendChild(qtyCell);

      var lineCents = Math.round(it.unit_price * 100) * it.quantity;
      totalCents += lineCents;
      currency = it.price_currency_code || currency;
      tr.appendChild(el("td", { "class": "num" }, formatMoney(lineCents / 100, it.price_currency_code)));

      var rmCell = el("td", { "class": "num" });
      var rm = el("button", { type: "button", "class": "link" }, "Remove");
      rm.addEventListener("click", function () {
        var c = loadCart();
        c.items.splice(i, 1);
        saveCart(c);
        renderCart();
        postCart(c);
      });
      rmCell.appendChild(rm);
      tr.appendChild(rmCell);
      body.appendChild(tr);
    });
    var total = document.getElementById("cart-total");
    if (total) total.textContent = formatMoney(totalCents / 100, currency);
  }

  function initCartPage() {
    if (!document.getElementById("cart-body")) return;
    renderCart();

    var clear = document.getElementById("clear-cart");
    if (clear) clear.addEventListener("click", function () {
      var c = { items: [] };
      saveCart(c);
      renderCart();
      postCart(c);
    });

    var resend = document.getElementById("resend-cart");
    if (resend) resend.addEventListener("click", function () { postCart(loadCart()); });

    var login = document.getElementById("login");
    if (login) login.addEventListener("click", function () {
      post({
        customer: {
          customer_reference: "demo-123",
          email: "jane.doe@example.com",
          first_name: "Jane",
          last_name: "Doe",
          marketing_permission: true
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    updateCartCount();
    renderLastStatus();
    initProductPage();
    initCartPage();
  });
  // After load: sessiontap stores what it read from this page once the
  // page has been sent, so the read-back waits for the page to finish.
  window.addEventListener("load", function () {
    showStored();
    setTimeout(showStored, 1000);
  });
})();
