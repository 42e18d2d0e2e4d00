// QR codes and payment links: the Scan page reads a code from an uploaded picture or the camera
// (qr-scanner, decoding in a worker) and posts its text for review; /pay hands a link's fragment
// (which never reaches a server by itself) to the server in a POST body. Messages come
// translated from data-* attributes of the page. (The share link's copy button is one of the
// shared data-copy-* buttons of security.js.)
(function () {
  "use strict";

  var scanner = null; // the one camera scanner alive, stopped when its page goes away

  function once(element) {
    if (element.dataset.qrBound) return false;
    element.dataset.qrBound = "1";
    return true;
  }

  // --- Scan page ----------------------------------------------------------------------------

  function bindScan(box) {
    if (!once(box)) return;
    var status = box.querySelector("[data-qr-status]");
    var form = box.querySelector("[data-qr-form]");
    var field = form && form.querySelector("[name=payload]");
    var file = box.querySelector("[data-qr-file]");
    var start = box.querySelector("[data-qr-camera]");
    var stop = box.querySelector("[data-qr-stop]");
    var videoWrap = box.querySelector("[data-qr-video-wrap]");
    var video = box.querySelector("[data-qr-video]");

    function say(key) { if (status) status.textContent = box.dataset[key] || ""; }

    function submitPayload(text) {
      if (!form || !field) return;
      field.value = text;
      say("msgFound");
      form.requestSubmit();
    }

    if (file) {
      file.addEventListener("change", function () {
        var picture = file.files && file.files[0];
        if (!picture || !window.QrScanner) return;
        say("msgReading");
        window.QrScanner.scanImage(picture, { returnDetailedScanResult: true })
          .then(function (result) { submitPayload(result.data); })
          .catch(function () { say("msgUnreadable"); file.value = ""; });
      });
    }

    function stopCamera() {
      if (scanner) { scanner.stop(); scanner.destroy(); scanner = null; }
      if (videoWrap) videoWrap.hidden = true;
      if (stop) stop.hidden = true;
      if (start) start.hidden = false;
    }

    function cameraFailed(error) {
      stopCamera();
      var name = error && (error.name || String(error));
      if (/NotAllowed|Permission|denied/i.test(name || "")) say("msgDenied");
      else if (/NotFound|Overconstrained|no camera/i.test(name || "")) say("msgNoCamera");
      else say("msgCameraFailed");
    }

    if (start && video) {
      start.addEventListener("click", function () {
        if (!window.QrScanner || !navigator.mediaDevices) { say("msgNoCamera"); return; }
        window.QrScanner.hasCamera().then(function (hasCamera) {
          if (!hasCamera) { say("msgNoCamera"); return; }
          stopCamera();
          scanner = new window.QrScanner(video, function (result) {
            stopCamera();
            submitPayload(result.data);
          }, { returnDetailedScanResult: true, preferredCamera: "environment" });
          videoWrap.hidden = false;
          start.hidden = true;
          if (stop) stop.hidden = false;
          say("msgScanning");
          scanner.start().catch(cameraFailed);
        }).catch(cameraFailed);
      });
    }
    if (stop) stop.addEventListener("click", stopCamera);
  }

  // --- /pay: the share link's fragment --------------------------------------------------------

  function bindPayLink(form) {
    if (!once(form)) return;
    var fragment = window.location.hash.replace(/^#/, "");
    if (!fragment) return;
    try { fragment = decodeURIComponent(fragment); } catch (error) { /* keep it as it is */ }
    form.querySelector("[name=fragment]").value = fragment;
    // The fragment is handed over once; it shouldn't stay in the address bar or history.
    window.history.replaceState(null, "", window.location.pathname);
    var empty = document.querySelector("[data-pay-empty]");
    if (empty) empty.hidden = true;
    form.hidden = false;
    form.requestSubmit();
  }

  function bind(root) {
    root.querySelectorAll("[data-qr-scan]").forEach(bindScan);
    root.querySelectorAll("form[data-pay-link]").forEach(bindPayLink);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) {
      window.htmx.onLoad(bind);
      // Leaving the Scan page (an HTMX swap) turns the camera off.
      document.body.addEventListener("htmx:beforeSwap", function () {
        if (scanner) { scanner.stop(); scanner.destroy(); scanner = null; }
      });
    }
  });
})();
