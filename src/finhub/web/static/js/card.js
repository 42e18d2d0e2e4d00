// Money-in pages (top-up): copy buttons for the bank details, and the card number shown in
// groups of four once typed. The card number never leaves the form except in its POST.
(function () {
  "use strict";

  function announce(text) {
    var status = document.querySelector("[data-copy-status]");
    if (status) status.textContent = text;
  }

  function copied(button) {
    var label = button.dataset.copyLabel || button.textContent;
    button.dataset.copyLabel = label;
    button.textContent = button.dataset.copied || label;
    announce(button.dataset.copied || "");
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  // Without clipboard access (an insecure origin, a refused permission) the text is selected
  // instead, so the person can copy it themselves.
  function selectText(button) {
    var code = button.parentElement && button.parentElement.querySelector("code");
    if (!code) return;
    var range = document.createRange();
    range.selectNodeContents(code);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function bindCopy(button) {
    if (button.dataset.copyBound) return;
    button.dataset.copyBound = "1";
    button.addEventListener("click", function () {
      var text = button.dataset.copy;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { copied(button); },
          function () { selectText(button); }
        );
      } else {
        selectText(button);
      }
    });
  }

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
    root.querySelectorAll("button[data-copy]").forEach(bindCopy);
    root.querySelectorAll("input[data-card-number]").forEach(bindCardNumber);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
