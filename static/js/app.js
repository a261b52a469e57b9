// Small progressive enhancements: the light/dark toggle, Present mode, the page's one live
// region, focus after htmx swaps, confirmation panels, tabs and menus from the keyboard.
(function () {
  "use strict";
  var root = document.documentElement;
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function syncToggles() {
    var button = document.getElementById("theme-toggle");
    if (button) {
      var dark = currentTheme() === "dark";
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      button.setAttribute("aria-label", dark ? "Switch to light mode" : "Switch to dark mode");
    }
    var present = document.getElementById("present-toggle");
    if (present) present.setAttribute("aria-pressed", root.dataset.present === "1" ? "true" : "false");
  }

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }

  // --- The live region: #announcer sits outside everything htmx swaps. Elements carrying
  // data-announce are read out once each (data-announce-key, else their text, identifies them).
  var announced = new Set();

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    // A fresh text node a moment later: screen readers announce a change, not a rewrite.
    window.setTimeout(function () { region.textContent = text; }, 60);
  }

  function announceKey(el) {
    return el.getAttribute("data-announce-key") || el.getAttribute("data-announce");
  }

  function announceNew(scope, seedOnly) {
    var texts = [];
    scope.querySelectorAll("[data-announce]").forEach(function (el) {
      var key = announceKey(el);
      if (announced.has(key)) return;
      announced.add(key);
      texts.push(el.getAttribute("data-announce"));
    });
    if (!seedOnly && texts.length) announce(texts.join(" "));
  }

  // A response may say something (HX-Trigger: {"announce": {"message": "..."}}).
  document.addEventListener("announce", function (event) {
    announce(event.detail && event.detail.message);
  });

  // --- Focus.
  function visible(el) {
    return !!(el && el.isConnected && el.getClientRects().length && !el.disabled);
  }

  function focusOn(el, options) {
    if (!el) return false;
    if (!el.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus({ preventScroll: true });
    if (document.activeElement !== el) return false;
    if (!options || options.scroll !== false) {
      el.scrollIntoView({ block: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
    }
    return true;
  }

  function firstMatch(selectors) {
    if (!selectors) return null;
    var list = selectors.split(",");
    for (var i = 0; i < list.length; i++) {
      var found = null;
      try { found = document.querySelector(list[i].trim()); } catch (e) { continue; }
      if (visible(found)) return found;
    }
    return null;
  }

  // The control in the new content that stands where the focused one stood: same tag, same name.
  function equivalent(old) {
    if (!old || old === document.body || old.isConnected || !old.tagName) return null;
    var name = old.getAttribute("aria-label") || old.textContent.trim();
    var found = null;
    document.querySelectorAll(old.tagName).forEach(function (el) {
      if (!found && visible(el) && (el.getAttribute("aria-label") || el.textContent.trim()) === name) found = el;
    });
    return found;
  }

  function focusFirstInvalid(scope) {
    var field = scope.querySelector("[aria-invalid=true]");
    if (!visible(field)) return false;
    var parts = [];
    var label = field.labels && field.labels[0];
    if (label) parts.push(label.textContent.trim());
    (field.getAttribute("aria-describedby") || "").split(/\s+/).forEach(function (id) {
      var note = id && document.getElementById(id);
      if (note) parts.push(note.textContent.trim());
    });
    focusOn(field);
    announce(parts.join(": "));
    return true;
  }

  // What each request being swapped knew about focus, by its XMLHttpRequest (requests overlap:
  // a swapped-in fragment may load another while the first settles).
  var pending = new WeakMap();
  var opener = null; // the control that opened the confirmation panel

  // Where focus was when each request left (hx-disabled-elt may blur the button meanwhile).
  var focusAtRequest = new WeakMap();

  // A region refresh (a job ended) waits while someone types in the region: it would replace
  // their half-typed form. It runs once focus leaves the field.
  var regionStale = false;
  function typingIn(region) {
    var a = document.activeElement;
    return !!(region && a && region.contains(a) && a.matches("textarea, input:not([type]), input[type=text], input[type=email], input[type=search], input[type=url], input[type=number]"));
  }
  document.addEventListener("focusout", function () {
    window.setTimeout(function () {
      var region = document.getElementById("project");
      if (!regionStale || !region || typingIn(region)) return;
      regionStale = false;
      if (window.htmx) window.htmx.trigger(document.body, "jobFinished");
    }, 0);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "project" && event.detail.elt === target && typingIn(target)) {
      event.preventDefault();
      regionStale = true;
      return;
    }
    if (event.detail.xhr) focusAtRequest.set(event.detail.xhr, document.activeElement);
    if (target && target.id === "confirm-slot") {
      var elt = event.detail.elt;
      var active = document.activeElement;
      opener = elt.contains(active) ? active : elt.querySelector("button") || elt;
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    var lost = !active || active === document.body || active.id === "main";
    if (lost && event.detail.xhr && focusAtRequest.has(event.detail.xhr)) {
      var before = focusAtRequest.get(event.detail.xhr);
      if (before && before.isConnected && before !== document.body) { active = before; lost = false; }
    }
    // detail.elt is the target here; the control that made the request is requestConfig.elt.
    var elt = (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
    if (!event.detail.xhr) return;
    pending.set(event.detail.xhr, {
      elt: elt,
      // Move focus only if it was in what is being replaced, or if it was lost and the
      // control says where it goes (a page-load fragment never takes focus).
      owns: (target && !lost && (target === active || target.contains(active))) ||
        (lost && !!(elt && elt.hasAttribute && elt.hasAttribute("data-focus-after"))),
      activeId: active && active.id,
      trigger: active,
      // data-focus-from: the region takes focus to its data-focus-after only from there (the
      // job the person follows), not from a control they moved to (a background job ending).
      followed: lost || !(elt && elt.getAttribute && elt.getAttribute("data-focus-from")) ||
        !!(active && active.closest && active.closest(elt.getAttribute("data-focus-from"))),
    });
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    var info = (event.detail.xhr && pending.get(event.detail.xhr)) || {};
    var swapped = target && target.isConnected ? target : document.body;

    if (target && target.id === "flash") {
      // A refused action: say why, and keep focus on the control that was used.
      var message = target.querySelector(".flash");
      if (message) announce(message.getAttribute("data-announce") || message.textContent.trim());
      if (info.trigger && info.trigger.isConnected && info.trigger !== document.body) {
        window.setTimeout(function () { if (!visible(info.trigger) || !focusOn(info.trigger, { scroll: false })) focusOn(message); }, 0);
      } else focusOn(message);
      return;
    }
    announceNew(document, false);
    if (!info.owns) return;
    if (focusFirstInvalid(swapped)) return;
    var elt = info.elt;
    var wanted = info.followed && elt && elt.getAttribute && firstMatch(elt.getAttribute("data-focus-after"));
    if (wanted) { focusOn(wanted); return; }
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return; // e.g. [autofocus]
    var same = info.activeId && document.getElementById(info.activeId);
    if (visible(same)) { focusOn(same, { scroll: false }); return; }
    var twin = equivalent(info.trigger);
    if (twin) { focusOn(twin, { scroll: false }); return; }
    if (visible(elt)) { focusOn(elt, { scroll: false }); return; }
    if (visible(info.trigger) && info.trigger !== document.body) focusOn(info.trigger, { scroll: false });
  });

  // A client redirect (HX-Redirect) loads a new page: say where focus goes there.
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || !xhr.getResponseHeader("HX-Redirect")) return;
    var elt = (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
    var wanted = (elt && elt.getAttribute && elt.getAttribute("data-focus-after-redirect")) || "h1";
    try { sessionStorage.setItem("focusAfterLoad", wanted); } catch (e) { /* private mode */ }
  });

  // A table wider than its box scrolls sideways: make the box reachable and named then.
  function markScrollBoxes() {
    document.querySelectorAll(".table-scroll[data-scroll-label]").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", box.getAttribute("data-scroll-label"));
      } else {
        ["tabindex", "role", "aria-label"].forEach(function (name) { box.removeAttribute(name); });
      }
    });
  }
  // A box also starts or stops overflowing without a resize of the window: a card opened
  // on a phone, a font loaded, a row added. Its own size change says so.
  var scrollBoxSizes = window.ResizeObserver ? new ResizeObserver(markScrollBoxes) : null;
  function watchScrollBoxes() {
    markScrollBoxes();
    if (!scrollBoxSizes) return;
    document.querySelectorAll(".table-scroll[data-scroll-label]:not([data-watched])").forEach(function (box) {
      box.setAttribute("data-watched", "");
      scrollBoxSizes.observe(box);
      var table = box.querySelector("table");
      if (table) scrollBoxSizes.observe(table);
    });
  }
  document.addEventListener("htmx:afterSettle", watchScrollBoxes);

  // Operator cards (details[data-phone-closed]) start closed on a phone: the page stays short.
  var phone = window.matchMedia("(max-width: 540px)");
  function closeOnPhone(scope) {
    if (!phone.matches) return;
    scope.querySelectorAll("details[data-phone-closed][open]:not([data-seen])").forEach(function (card) {
      card.removeAttribute("open");
    });
    scope.querySelectorAll("details[data-phone-closed]").forEach(function (card) { card.setAttribute("data-seen", ""); });
  }
  document.addEventListener("htmx:afterSettle", function (event) { closeOnPhone(event.target); syncToggles(); });
  document.addEventListener("DOMContentLoaded", function () { closeOnPhone(document); });
  window.addEventListener("resize", markScrollBoxes);

  // --- Confirmation panels: Cancel or Escape closes them; focus returns to their opener.
  function closeConfirm(panel) {
    panel.remove();
    if (visible(opener)) { focusOn(opener, { scroll: false }); return; }
    var main = document.getElementById("main");
    if (main) main.focus({ preventScroll: true });
  }

  function closeMenu(menu) {
    menu.removeAttribute("open");
    var summary = menu.querySelector("summary");
    if (summary) summary.focus();
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("#theme-toggle")) {
      var next = currentTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      store("theme", next);
      syncToggles();
      return;
    }
    if (event.target.closest("#present-toggle")) {
      if (root.dataset.present === "1") delete root.dataset.present;
      else root.dataset.present = "1";
      store("present", root.dataset.present === "1" ? "1" : "0");
      syncToggles();
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
    // A menu closes when the click lands outside it.
    document.querySelectorAll("details.team-switcher[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  var TAB_KEYS = ["ArrowLeft", "ArrowRight", "Home", "End"];

  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (event.key === "Escape") {
      var menu = el.closest && el.closest("details[open]");
      if (menu) { closeMenu(menu); return; }
      var rename = el.closest && el.closest(".rename-form");
      if (rename) {
        var cancel = rename.querySelector("[data-cancel]");
        // The form may have just been swapped in: make sure htmx has wired its Cancel.
        if (cancel) { if (window.htmx) window.htmx.process(rename); cancel.click(); return; }
      }
      var panel = document.querySelector("#confirm-slot [data-dismissable]");
      if (panel) closeConfirm(panel);
      return;
    }
    // Tabs (ARIA tabs pattern, manual activation): arrows move between tabs, Enter/Space open one.
    if (el.getAttribute && el.getAttribute("role") === "tab") {
      if (TAB_KEYS.indexOf(event.key) !== -1) {
        var tabs = Array.prototype.slice.call(el.closest("[role=tablist]").querySelectorAll("[role=tab]"));
        var index = tabs.indexOf(el);
        if (event.key === "ArrowLeft") index = (index - 1 + tabs.length) % tabs.length;
        if (event.key === "ArrowRight") index = (index + 1) % tabs.length;
        if (event.key === "Home") index = 0;
        if (event.key === "End") index = tabs.length - 1;
        event.preventDefault();
        tabs.forEach(function (tab) { tab.setAttribute("tabindex", tab === tabs[index] ? "0" : "-1"); });
        tabs[index].focus();
        return;
      }
    }
    // Links that look like buttons act on Space too.
    if (event.key === " " && el.matches && el.matches("a[role=tab], a.button")) {
      event.preventDefault();
      el.click();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    syncToggles();
    watchScrollBoxes();
    announceNew(document, true);
    var flash = document.querySelector("#flash .flash");
    if (flash) announce(flash.getAttribute("data-announce"));
    var wanted = null;
    try {
      wanted = sessionStorage.getItem("focusAfterLoad");
      sessionStorage.removeItem("focusAfterLoad");
    } catch (e) { /* private mode */ }
    var target = firstMatch(wanted);
    if (target) focusOn(target);
  });
})();
