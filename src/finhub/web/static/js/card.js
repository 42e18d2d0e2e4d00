// Money-in pages (top-up): the card number shown in groups of four once typed. The card number
// never leaves the form except in its POST. (The bank details' copy buttons are the shared
// data-copy-* buttons of security.js.)
(function () {
  "use strict";

  function bindCardNumber(input) {
    if (input.dataset.cardBound) return;
    input.dataset.cardBound = "1";
    input.addEventListener("blur", function () {
      var digits = input.value.replace(/[\s-]/g, "");
      if (/^[0-9]{12,19}$/.test(digits)) {
        input.value = digits.replace(/(.{4})(?=.)/g, "$1 ");
      }
    });
  }

  function bind(root) {
    root.querySelectorAll("input[data-card-number]").forEach(bindCardNumber);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
