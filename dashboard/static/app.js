// bulkid dashboard: follows the running jobs on a page. Every element with
// data-job="ID" and data-final="false" is brought up to date from
// GET /ui/live every 1.5 s until its job is final. A page without this
// script reloads itself instead (a <noscript> meta refresh).
(function () {
  "use strict";
  var interval = 1500;

  function running() {
    var ids = [];
    document.querySelectorAll("[data-job][data-final=false]").forEach(function (el) {
      var id = el.getAttribute("data-job");
      if (ids.indexOf(id) < 0) ids.push(id);
    });
    return ids;
  }

  function shown() {
    var ids = [];
    document.querySelectorAll("[data-job]").forEach(function (el) {
      ids.push(el.getAttribute("data-job"));
    });
    return ids;
  }

  function setText(root, field, text) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.textContent = text;
    });
  }

  function update(j) {
    document.querySelectorAll("[data-job]").forEach(function (root) {
      if (root.getAttribute("data-job") !== j.id) return;
      setText(root, "percent", j.percent);
      setText(root, "rate", j.rate);
      setText(root, "duration", j.duration);
      setText(root, "eta", j.eta);
      setText(root, "total", String(j.total));
      root.querySelectorAll('[data-field="status"]').forEach(function (el) {
        el.textContent = j.status;
        el.className = "status " + (j.status === "completed" ? "ok" : j.status === "failed" ? "fail" : j.status === "canceled" ? "off" : "run");
      });
      (j.counts || []).forEach(function (c) {
        root.querySelectorAll('[data-count="' + c.label + '"]').forEach(function (el) {
          el.textContent = String(c.n);
        });
      });
      root.querySelectorAll("[data-bar]").forEach(function (svg) {
        svg.querySelector("rect.ok").setAttribute("width", String(j.ok_width));
        var fail = svg.querySelector("rect.fail");
        fail.setAttribute("x", String(j.ok_width));
        fail.setAttribute("width", String(j.fail_width));
        svg.setAttribute("aria-valuenow", String(j.completed + j.failed));
        svg.setAttribute("aria-valuemax", String(j.total));
        svg.setAttribute("aria-valuetext", j.summary);
      });
      if (j.final) {
        root.setAttribute("data-final", "true");
        if (root.hasAttribute("data-reload-on-final")) reload();
      }
    });
  }

  var reloading = false;
  function reload() {
    if (reloading) return;
    reloading = true;
    // The final page lists the failed records and why a job failed.
    window.setTimeout(function () { window.location.reload(); }, 300);
  }

  function tick() {
    var ids = running();
    var watch = document.querySelector("[data-watch-new]") !== null;
    if (ids.length === 0 && !watch) return; // nothing to follow
    var q = ids.map(function (id) { return "job=" + encodeURIComponent(id); }).join("&");
    fetch("/ui/live" + (q ? "?" + q : ""), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (res.status === 401) {
          window.location.assign("/ui/signin?session=expired");
          return null;
        }
        return res.ok ? res.json() : null;
      })
      .then(function (live) {
        if (!live) return;
        live.jobs.forEach(update);
        // A job started that this page does not show: show it.
        if (watch && live.active && shown().indexOf(live.active) < 0) reload();
      })
      .catch(function () { /* the server is away for a moment: try again */ })
      .then(function () {
        if (!reloading) window.setTimeout(tick, interval);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.setTimeout(tick, interval);
  });
})();
