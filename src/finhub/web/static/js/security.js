// Security settings: creating a passkey in the browser (WebAuthn), copying a new API key, and
// downloading or printing recovery codes. Binds to data-security-* attributes (their own names,
// so no other page group's script acts on them); safe to run again on every HTMX swap (bound
// elements are marked).
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

  // <button data-security-copy="input-id" data-security-copied="Copied">: copies the input's
  // value.
  function bindCopy(button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.securityCopy);
      if (!input) return;
      function done() { button.textContent = button.dataset.securityCopied; }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          input.select();
        });
      } else {
        input.select();
        if (document.execCommand("copy")) done();
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
    once(root, "[data-security-copy]", bindCopy);
    once(root, "[data-security-download]", bindDownload);
    once(root, "[data-security-print]", bindPrint);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
