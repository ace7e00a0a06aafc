// The printable summary: a Print button (shown only when script runs; the browser's own Print
// works without it). No inline script: the content security policy allows none.
(function () {
  "use strict";
  var button = document.getElementById("print");
  if (!button) { return; }
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
})();
