// Moments (<time datetime data-local>) read in the viewer's time zone, with their date:
// the server writes UTC ("Sun 6 Dec 2026, 18:05 UTC"), this rewrites it where script runs.
(function () {
  "use strict";
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
  } catch (e) { return; }

  function localize(scope) {
    (scope || document).querySelectorAll("time[data-local]:not([data-localized])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      el.setAttribute("title", el.textContent);
      el.textContent = format.format(when);
      el.setAttribute("data-localized", "");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:afterSettle", function (event) { localize(event.target); });
})();
