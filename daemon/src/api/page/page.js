"use strict";
// Refreshes the status page in place: every 2 s it fetches the page
// again and swaps <main>, so the scroll position stays; the banner says
// how old the data is and, when a fetch fails, that orbitd cannot be
// reached (the data below then grows old, and says so).
(function () {
  const EVERY_MS = 2000;
  const banner = document.getElementById("freshness");
  let fetchedAt = Date.now();
  let failure = null;

  function show() {
    const age = Math.round((Date.now() - fetchedAt) / 1000);
    if (failure) {
      banner.textContent = "orbitd cannot be reached (" + failure + "): the data below is " +
        age + " s old; retrying every 2 s";
      banner.className = "banner bad";
      banner.dataset.reachable = "false";
    } else {
      banner.textContent = "live: refreshed every 2 s, data " + age + " s old";
      banner.className = "banner";
      banner.dataset.reachable = "true";
    }
  }

  async function refresh() {
    try {
      // Not a relative URL: opened as http://user:token@host/, the page's
      // own URL carries credentials, which fetch refuses; the browser
      // sends the ones it cached for this origin.
      const response = await fetch(window.location.origin + window.location.pathname, {
        cache: "no-store",
        credentials: "same-origin",
      });
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("main");
      if (!fresh) {
        throw new Error("not a status page");
      }
      document.querySelector("main").replaceWith(document.adoptNode(fresh));
      document.title = page.title;
      fetchedAt = Date.now();
      failure = null;
    } catch (e) {
      failure = e && e.message ? e.message : String(e);
    }
    show();
    window.setTimeout(refresh, EVERY_MS);
  }

  show();
  window.setInterval(show, 1000);
  window.setTimeout(refresh, EVERY_MS);
})();
