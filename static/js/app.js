// Small progressive enhancements: the light/dark toggle and closing confirmation panels.
(function () {
  "use strict";
  var root = document.documentElement;

  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function syncToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    var dark = currentTheme() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.setAttribute("aria-label", dark ? "Switch to light mode" : "Switch to dark mode");
  }

  function closeConfirm(panel) {
    var slot = panel.parentElement;
    panel.remove();
    var main = document.getElementById("main");
    if (slot && main) main.focus({ preventScroll: true });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("#theme-toggle")) {
      var next = currentTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem("theme", next); } catch (e) { /* private mode */ }
      syncToggle();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var field = document.querySelector(copy.dataset.copy);
      var said = document.getElementById(copy.getAttribute("aria-describedby"));
      if (!field) return;
      field.select();
      var done = function () { if (said) said.textContent = "Copied to the clipboard."; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
      return;
    }
    var dismiss = event.target.closest("[data-dismiss]");
    var panel = dismiss && dismiss.closest("[data-dismissable]");
    if (panel && panel.parentElement && panel.parentElement.id === "confirm-slot") {
      event.preventDefault();
      closeConfirm(panel);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var panel = document.querySelector("#confirm-slot [data-dismissable]");
    if (panel) closeConfirm(panel);
  });

  // Bring a freshly loaded confirmation into view (htmx focuses its autofocus button).
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "confirm-slot") {
      event.detail.target.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });

  document.addEventListener("DOMContentLoaded", syncToggle);
})();
