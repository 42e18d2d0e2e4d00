// finhub's own behaviour shared by every page. Page groups add their own file next to this one;
// each binds to data-* attributes from htmx.onLoad, so it works on first load and after every
// HTMX swap. No inline script exists anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  function bind(root) {
    // A <select data-autosubmit> submits its form when changed (the button stays for no-JS use).
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      if (select.dataset.bound) return;
      select.dataset.bound = "1";
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) {
      window.htmx.onLoad(bind);
      // After a swap, move focus to the main content so screen readers announce the new page.
      document.body.addEventListener("htmx:afterSettle", function (event) {
        if (event.detail.boosted) {
          var main = document.getElementById("main");
          if (main) main.focus({ preventScroll: true });
        }
      });
    }
  });
})();
