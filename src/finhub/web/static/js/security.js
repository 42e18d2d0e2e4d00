// Security settings: creating a passkey in the browser (WebAuthn) and downloading or printing
// recovery codes, bound to data-security-* attributes (their own names, so no other page
// group's script acts on them). Also the one copy button behaviour of every page (data-copy-*):
// the API key, the bank details of a top-up, a request's share link. Safe to run again on every
// HTMX swap (bound elements are marked).
(function () {
  "use strict";

  function once(root, selector, bind) {
    root.querySelectorAll(selector).forEach(function (element) {
      if (element.dataset.securityBound) return;
      element.dataset.securityBound = "1";
      bind(element);
    });
  }

  // <form data-security-passkey data-options='{…}'>: the button asks the browser to create a
  // passkey with the server's options, puts the answer in `credential` and sends the form.
  function bindPasskeyForm(form) {
    var button = form.querySelector("[data-security-passkey-start]");
    var error = form.querySelector("[data-security-passkey-error]");
    var credential = form.querySelector("input[name=credential]");
    var webauthn = window.SimpleWebAuthnBrowser;

    function fail(message) {
      error.textContent = message;
      error.hidden = false;
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }

    if (!webauthn || !webauthn.browserSupportsWebAuthn()) {
      fail(form.dataset.unsupported);
      button.disabled = true;
      return;
    }
    button.addEventListener("click", function () {
      error.hidden = true;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
      var options = JSON.parse(form.dataset.options);
      webauthn.startRegistration({ optionsJSON: options }).then(function (answer) {
        credential.value = JSON.stringify(answer);
        form.requestSubmit();
      }).catch(function () {
        fail(form.dataset.failed);
      });
    });
  }

  // <button type="button" data-copy-target="element-id" data-copied="Copied"
  //   data-copy="text" data-copy-failed="Select it and copy it." data-copy-status="status-id">
  // copies `data-copy` (else the target's value or text); only data-copy-target is required.
  // Copied: the button says `data-copied` for a moment and so does the status element (a live
  // region). Without clipboard access (an insecure origin, a refused permission) the target's
  // text is selected for the person to copy, and the status says `data-copy-failed`.
  function bindCopy(button) {
    var label = button.textContent;
    var restore = null;

    function target() { return document.getElementById(button.dataset.copyTarget || ""); }

    function say(message) {
      var status = document.getElementById(button.dataset.copyStatus || "");
      if (status) status.textContent = message || "";
    }

    function copied() {
      button.textContent = button.dataset.copied || label;
      say(button.dataset.copied);
      window.clearTimeout(restore);
      restore = window.setTimeout(function () { button.textContent = label; }, 2000);
    }

    function failed() {
      var element = target();
      if (element && typeof element.select === "function") {
        element.focus();
        element.select();
      } else if (element) {
        var range = document.createRange();
        range.selectNodeContents(element);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
      }
      say(button.dataset.copyFailed);
    }

    button.addEventListener("click", function () {
      var element = target();
      var text = button.dataset.copy;
      if (text === undefined && element) {
        text = "value" in element ? element.value : element.textContent.trim();
      }
      if (!text) return;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(copied, failed);
      } else {
        failed();
      }
    });
  }

  // <button data-security-download="element-id" data-filename="…">: saves the list items' text
  // as a file made in the browser, so the codes never travel in a URL.
  function bindDownload(button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.securityDownload);
      if (!source) return;
      var lines = Array.prototype.map.call(source.querySelectorAll("li"), function (item) {
        return item.textContent.trim();
      });
      var blob = new Blob([lines.join("\n") + "\n"], { type: "text/plain" });
      var url = URL.createObjectURL(blob);
      var link = document.createElement("a");
      link.href = url;
      link.download = button.dataset.filename || "download.txt";
      link.setAttribute("hx-boost", "false");
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  }

  function bindPrint(button) {
    button.addEventListener("click", function () { window.print(); });
  }

  function bind(root) {
    once(root, "form[data-security-passkey]", bindPasskeyForm);
    once(root, "button[data-copy-target]", bindCopy);
    once(root, "[data-security-download]", bindDownload);
    once(root, "[data-security-print]", bindPrint);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
