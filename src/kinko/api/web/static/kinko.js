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
