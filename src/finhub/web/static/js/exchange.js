// The exchange quote's countdown. Each quote carries its expiry and the server's time when it was
// made (data-expires-at, data-server-now), so the countdown is right even when the device's
// clock is not. The visible clock ticks every second; screen readers hear it only twice
// (10 seconds left, expired) through a polite live region. At expiry the Accept button is
// disabled and a "Get a new quote" button appears; the server refuses a late accept anyway.
(function () {
  "use strict";
  var SOON_SECONDS = 10;

  function clockText(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function startCountdown(box) {
    var quote = box.closest("[data-quote]");
    if (!quote) return;
    var validity = Date.parse(box.dataset.expiresAt) - Date.parse(box.dataset.serverNow);
    if (isNaN(validity)) return;
    var deadline = Date.now() + validity;
    var clock = box.querySelector("[data-countdown-clock]");
    var live = quote.querySelector("[data-countdown-live]");
    var announcedSoon = false;
    var timer = null;

    function announce(message) {
      if (live && message) live.textContent = message;
    }

    function expire() {
      window.clearInterval(timer);
      box.querySelector("[data-countdown-running]").hidden = true;
      box.querySelector("[data-countdown-expired]").hidden = false;
      var accept = quote.querySelector("[data-quote-accept]");
      var renew = quote.querySelector("[data-quote-renew]");
      var hadFocus = accept && document.activeElement === accept;
      if (accept) accept.disabled = true;
      if (renew) {
        renew.hidden = false;
        if (hadFocus) renew.focus();
      }
      announce(box.dataset.msgExpired);
    }

    function tick() {
      if (!document.body.contains(box)) {
        window.clearInterval(timer); // a new quote replaced this one
        return;
      }
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (clock) clock.textContent = clockText(left);
      if (left === 0) {
        expire();
      } else if (left <= SOON_SECONDS && !announcedSoon) {
        announcedSoon = true;
        announce(box.dataset.msgSoon);
      }
    }

    timer = window.setInterval(tick, 1000);
    tick();
  }

  function bind(root) {
    root.querySelectorAll("[data-quote-countdown]").forEach(function (box) {
      if (box.dataset.bound) return;
      box.dataset.bound = "1";
      startCountdown(box);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
