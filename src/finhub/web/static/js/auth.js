// Sign-in pages: passkey sign-in (WebAuthn through the vendored SimpleWebAuthnBrowser) and the
// "show password" switch. Both are hidden in the page and shown here, so a browser without
// script or without passkey support never sees a control that can't work.
(function () {
  "use strict";

  function webauthn() {
    var lib = window.SimpleWebAuthnBrowser;
    return lib && lib.browserSupportsWebAuthn() ? lib : null;
  }

  // POST JSON with the page's CSRF token; resolves with the answer, rejects with its message.
  function postJson(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || "request failed");
          error.shown = data.error;
          throw error;
        }
        return data;
      });
    });
  }

  function signInWithPasskey(button, lib) {
    var status = document.getElementById(button.dataset.status);
    var csrf = button.dataset.csrf;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (status) status.textContent = "";
    postJson(button.dataset.optionsUrl, csrf)
      .then(function (options) {
        return lib.startAuthentication({ optionsJSON: options.public_key });
      })
      .then(function (credential) {
        return postJson(button.dataset.verifyUrl, csrf, { credential: credential, next: button.dataset.next });
      })
      .then(function (answer) {
        window.location.assign(answer.redirect);
      })
      .catch(function (error) {
        var cancelled = error && error.name === "NotAllowedError";
        if (status) status.textContent = error.shown || (cancelled ? button.dataset.cancelled : button.dataset.failed);
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
  }

  function bindPasskeys(root) {
    var lib = webauthn();
    if (!lib) return;
    root.querySelectorAll("[data-passkey-area]").forEach(function (area) {
      area.hidden = false;
    });
    root.querySelectorAll("button[data-passkey]").forEach(function (button) {
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      button.addEventListener("click", function () { signInWithPasskey(button, lib); });
    });
  }

  function bindShowPassword(root) {
    root.querySelectorAll("input[data-show-password]").forEach(function (toggle) {
      if (toggle.dataset.bound) return;
      toggle.dataset.bound = "1";
      var label = toggle.closest("[data-show-password-label]");
      if (label) label.hidden = false;
      toggle.addEventListener("change", function () {
        var field = document.getElementById(toggle.dataset.showPassword);
        if (field) field.type = toggle.checked ? "text" : "password";
      });
    });
  }

  function bind(root) {
    bindPasskeys(root);
    bindShowPassword(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) window.htmx.onLoad(bind);
  });
})();
