// The console's shell: the navigation, who is signed in, and the hash router that renders one
// page at a time into <main>.

import { canManage, currentSession, signOut } from "./api.js";
import { clearErrors, fill, h, showError } from "./dom.js";
import * as signin from "./pages/signin.js";
import * as data from "./pages/data.js";
import * as sessions from "./pages/sessions.js";
import * as session from "./pages/session.js";
import * as roles from "./pages/roles.js";
import * as role from "./pages/role.js";

const ROUTES = [
  [/^#\/signin$/, signin.render, null],
  [/^#\/data$/, data.render, "data"],
  [/^#\/sessions$/, sessions.render, "sessions"],
  [/^#\/sessions\/([^/]+)$/, session.render, "sessions"],
  [/^#\/sessions\/([^/]+)\/roles\/([^/]+)$/, role.render, "sessions"],
  [/^#\/roles$/, roles.renderAll, "roles"],
  [/^#\/saved$/, roles.renderSaved, "saved"],
  [/^#\/role\/([^/]+)$/, roles.renderById, "saved"],
];

const NAV = [
  ["data", "#/data", "Access data"],
  ["sessions", "#/sessions", "Sessions"],
  ["roles", "#/roles", "All roles"],
  ["saved", "#/saved", "Saved roles"],
];

function shell(section) {
  const signedIn = currentSession();
  fill(
    document.getElementById("nav"),
    signedIn
      ? NAV.map(([key, href, label]) => h("a", { href, "aria-current": key === section ? "page" : null }, label))
      : null,
  );
  fill(
    document.getElementById("who"),
    signedIn
      ? [
          h("span", { id: "client-id" }, signedIn.clientId),
          canManage() ? null : h("span", { class: "ro", id: "read-only" }, "read only"),
          h("button", { type: "button", class: "secondary", id: "sign-out", onclick: () => {
            signOut();
            location.hash = "#/signin";
          } }, "Sign out"),
        ]
      : null,
  );
}

async function route() {
  const hash = location.hash || "#/sessions";
  if (!currentSession() && hash !== "#/signin") {
    location.hash = "#/signin";
    return;
  }
  clearErrors();
  const main = document.getElementById("main");
  for (const [pattern, render, section] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    shell(section);
    const page = h("div", { class: "page" });
    fill(main, page);
    try {
      await render(page, ...match.slice(1).map(decodeURIComponent));
    } catch (err) {
      showError(err, "Loading the page");
    }
    // Screen readers announce the new page by its title; keyboard focus starts at its content.
    const heading = page.querySelector("h1");
    document.title = heading ? `${heading.textContent} – Rolemine` : "Rolemine console";
    if (section && !page.contains(document.activeElement)) main.focus({ preventScroll: true });
    return;
  }
  shell(null);
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, hash), ". ", h("a", { href: "#/sessions" }, "Sessions")));
}

// A fault in the console itself is shown like an API error, never lost in the browser's console.
window.addEventListener("error", (event) => showError(event.error || event.message, "Console fault"));
window.addEventListener("unhandledrejection", (event) => showError(event.reason, "Console fault"));
window.addEventListener("hashchange", route);
window.addEventListener("rolemine:signed-out", () => {
  location.hash = "#/signin";
});
route();
