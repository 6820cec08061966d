"use strict";
// Shows why the last sign-in failed; the form itself needs no script.
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("failed").hidden = false;
}
