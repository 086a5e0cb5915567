// jobctl console: progressive enhancement only; every page works without this file.
// - Pages marked data-refresh="1" re-read themselves every few seconds and swap <main>,
//   unless the operator is typing in a form or has one open.
// - A running run's page follows each attempt's log lines (textContent: never markup).
"use strict";
(function () {
  var PERIOD = 3000;

  function busy() {
    var active = document.activeElement;
    if (active && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName)) return true;
    return document.querySelector("details.action[open]") !== null;
  }

  function refresh() {
    if (document.body.dataset.refresh !== "1" || busy()) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null || busy()) return;
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var main = fresh.getElementById("live");
        var current = document.getElementById("live");
        if (!main || !current) return;
        current.replaceWith(document.importNode(main, true));
        document.body.dataset.refresh = fresh.body.dataset.refresh || "0";
        var footer = fresh.querySelector("footer");
        var here = document.querySelector("footer");
        if (footer && here) here.textContent = footer.textContent;
        follow();
      })
      .catch(function () { /* the next tick tries again */ });
  }

  function follow() {
    var list = document.querySelector("ol.attempts[data-follow='1']");
    if (!list) return;
    fetch(list.dataset.logs, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        data.attempts.forEach(function (attempt) {
          var item = list.querySelector("li[data-attempt='" + attempt.attempt + "']");
          if (!item) {
            item = document.createElement("li");
            item.className = "attempt";
            item.dataset.attempt = String(attempt.attempt);
            var head = document.createElement("div");
            head.className = "attempt-head";
            head.textContent = "attempt " + attempt.attempt;
            item.appendChild(head);
            var pre = document.createElement("pre");
            pre.className = "log";
            item.appendChild(pre);
            list.appendChild(item);
          }
          item.querySelector("pre.log").textContent = attempt.lines.join("\n");
        });
      })
      .catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    follow();
    window.setInterval(refresh, PERIOD);
  });
})();
