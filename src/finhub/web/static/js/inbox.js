// The inbox: marking a notification read swaps it in place (HTMX); the answer's HX-Trigger
// event "finhub-unread" carries the new unread count, and this keeps the layout's badge (and the
// "Mark all as read" button) in step with it without reloading the page. Keyboard focus moves
// to the notification just read, since the button that had it is gone.
(function () {
  "use strict";

  function newBadge(count) {
    var badge = document.createElement("span");
    badge.className = "badge";
    badge.appendChild(document.createTextNode(String(count)));
    var inbox = document.querySelector("[data-inbox]");
    var label = inbox ? inbox.dataset.unreadLabel : "";
    if (label) {
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " " + label;
      badge.appendChild(hidden);
    }
    return badge;
  }

  function showUnread(count) {
    document.querySelectorAll("a.inbox-link").forEach(function (link) {
      var badge = link.querySelector(".badge");
      if (count <= 0) {
        if (badge) badge.remove();
      } else if (badge && badge.firstChild) {
        badge.firstChild.nodeValue = String(count);
      } else {
        link.appendChild(document.createTextNode(" "));
        link.appendChild(newBadge(count));
      }
    });
    document.querySelectorAll("[data-mark-all]").forEach(function (form) {
      form.hidden = count <= 0;
    });
  }

  function bind(root) {
    var target = root.matches && root.matches("[data-focus-after-swap]") ? root : null;
    if (target && !target.dataset.focused) {
      target.dataset.focused = "1";
      target.focus({ preventScroll: true });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("finhub-unread", function (event) {
      var count = event.detail && Number(event.detail.count);
      if (!isNaN(count)) showUnread(count);
    });
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
