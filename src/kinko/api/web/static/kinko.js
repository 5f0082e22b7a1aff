// kinko dashboard: small progressive enhancements; every page works without them except
// the live overview. No business rule here: the server renders what is shown.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // the operator's time zone, sent once with the sign-in form
  for (const input of document.querySelectorAll('input[data-fill="zone"]')) {
    try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* keep default */ }
  }
  for (const a of document.querySelectorAll("a[data-back]")) {
    a.addEventListener("click", (e) => { if (history.length > 1) { e.preventDefault(); history.back(); } });
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => { if (!confirm(form.dataset.confirm)) e.preventDefault(); });
  }
  // other pages: a notice when anything changed since the page was shown (the operator may
  // be typing into a form, so the page is not reloaded under them)
  for (const notice of document.querySelectorAll("[data-changed][data-watch]")) {
    const source = new EventSource(notice.dataset.watch);
    source.addEventListener("changed", () => { notice.hidden = false; });
    source.addEventListener("signed-out", (e) => { source.close(); location.href = e.data; });
    for (const a of notice.querySelectorAll("a[data-reload]")) {
      a.addEventListener("click", (e) => { e.preventDefault(); location.reload(); });
    }
  }
  // countdowns (a policy loosening waiting for its lock): the server says how many seconds
  // were left when it rendered the page and the words with {hours} and {minutes}; the page
  // counts down from there by its own elapsed time (no trust in the browser's clock)
  const shown = Date.now();
  const countdowns = document.querySelectorAll("[data-countdown-s][data-countdown-words]");
  const tick = () => {
    for (const el of countdowns) {
      const left = Math.max(0, Number(el.dataset.countdownS) - (Date.now() - shown) / 1000);
      const minutes = Math.floor(left / 60);
      el.textContent = el.dataset.countdownWords
        .replace("{hours}", String(Math.floor(minutes / 60)))
        .replace("{minutes}", String(minutes % 60));
    }
  };
  if (countdowns.length) setInterval(tick, 15000);
  // live parts: the server sends the part rendered again whenever something changed
  for (const box of document.querySelectorAll("[data-live]")) {
    const state = document.querySelector("[data-live-state]");
    const source = new EventSource(box.dataset.live);
    const event = box.dataset.event || "overview";
    source.addEventListener(event, (e) => {
      box.innerHTML = e.data;
      box.dataset.updated = String(Date.now());
      if (state) { state.textContent = box.dataset.ok; state.classList.remove("bad"); }
    });
    source.addEventListener("open", () => {
      if (state) { state.textContent = box.dataset.ok; state.classList.remove("bad"); }
    });
    source.addEventListener("signed-out", (e) => { source.close(); location.href = e.data; });
    source.addEventListener("error", () => {
      if (state) { state.textContent = box.dataset.lost; state.classList.add("bad"); }
    });
  }
});
