"use strict";
// Shows why the last sign-in failed; the form itself needs no script.
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("failed").hidden = false;
}
// A link to a session came here through the redirect, which keeps its
// #/s/<id>: the page opens it after signing in (the server never sees it).
if (location.hash.startsWith("#/s/")) {
  sessionStorage.setItem("sessiontap-next", location.hash);
}
