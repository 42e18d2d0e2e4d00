// The installable app: registers the service worker (/sw.js), keeps its offline page in the
// page's language, and turns a page change without network into a real navigation, which the
// worker answers with the offline page.
(function () {
  "use strict";

  function register() {
    // Offline, an update check can only fail; the worker already installed keeps serving.
    if (!("serviceWorker" in navigator) || !navigator.onLine) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (registration) { tellLanguage(registration.active); })
      .catch(function () { /* without a worker, the app simply needs the network */ });
  }

  function tellLanguage(worker) {
    var language = document.documentElement.getAttribute("lang");
    if (worker && language) worker.postMessage({ type: "offline-language", language: language });
  }

  function bind(root) {
    // "Try again" on the offline page reloads the page that couldn't load.
    root.querySelectorAll("[data-retry]").forEach(function (link) {
      if (link.dataset.bound) return;
      link.dataset.bound = "1";
      link.addEventListener("click", function (event) {
        event.preventDefault();
        window.location.reload();
      });
    });
  }

  function navigateForReal(event) {
    var detail = event.detail || {};
    var config = detail.requestConfig || {};
    var path = (detail.pathInfo && detail.pathInfo.finalRequestPath) || config.path;
    if (!detail.boosted || config.verb !== "get" || !path) return false;
    window.location.assign(path);
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    register();
    bind(document);
    if (!window.htmx) return;
    window.htmx.onLoad(bind);
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      if (!navigator.onLine && navigateForReal(event)) event.preventDefault();
    });
    document.body.addEventListener("htmx:sendError", navigateForReal);
  });
})();
