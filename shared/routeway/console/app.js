// The console's shell: sign-in, the hash router (#/models?..., #/preview?..., #/explain/<id>, #/key, and for
// admin keys #/teams and #/spend?...),
// and one place where every failure becomes a visible message instead of a blank page.
import { ApiError, api, forgetKey, storeKey, storedKey } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { renderExplain } from "./view_explain.js";
import { renderKey } from "./view_key.js";
import { renderModels } from "./view_models.js";
import { renderPreview } from "./view_preview.js";
import { renderSpend } from "./view_spend.js";
import { renderTeams } from "./view_teams.js";

const VIEWS = {
  models: renderModels,
  preview: renderPreview,
  explain: renderExplain,
  key: renderKey,
  teams: renderTeams,
  spend: renderSpend,
};
let renderCount = 0;

const byId = (id) => document.getElementById(id);

export function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, "");
  const split = raw.indexOf("?");
  const path = split < 0 ? raw : raw.slice(0, split);
  const params = new URLSearchParams(split < 0 ? "" : raw.slice(split + 1));
  const [name, ...rest] = path.split("/");
  let arg = rest.join("/");
  try {
    arg = decodeURIComponent(arg);
  } catch {
    // a malformed %-escape: keep the id as typed
  }
  return { name: name || "models", arg, params };
}

function showSignIn(message) {
  byId("nav").hidden = true;
  byId("sign-out").hidden = true;
  const view = byId("view");
  view.hidden = true;
  clear(view);
  byId("sign-in").hidden = false;
  const error = byId("sign-in-error");
  error.textContent = message || "";
  error.hidden = !message;
  byId("key-input").focus();
}

function showApp(name) {
  byId("sign-in").hidden = true;
  byId("nav").hidden = false;
  byId("sign-out").hidden = false;
  byId("view").hidden = false;
  for (const link of byId("nav").querySelectorAll("a")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
}

function describe(error) {
  if (error instanceof ApiError) {
    return `${error.message} (${error.code}${error.status ? `, HTTP ${error.status}` : ""})`;
  }
  return `The console hit an error: ${error && error.message ? error.message : String(error)}`;
}

async function render() {
  const current = ++renderCount;
  if (!storedKey()) {
    showSignIn();
    return;
  }
  const route = parseHash(window.location.hash);
  showApp(route.name);
  const root = byId("view");
  root.dataset.view = route.name;
  root.dataset.rendered = "";
  root.setAttribute("aria-busy", "true");
  clear(root);
  root.append(h("p", { class: "muted" }, "Loading…"));
  const view = VIEWS[route.name];
  let nodes;
  try {
    if (!view) {
      throw new Error(`there is no view named "${route.name}" (try #/models, #/preview, #/explain/<id>, #/key, #/teams or #/spend)`);
    }
    nodes = await view(route, { api, navigate });
  } catch (error) {
    if (current !== renderCount) {
      return;
    }
    if (error instanceof ApiError && error.status === 401) {
      forgetKey();
      showSignIn(`Signed out: the gateway refused the key (${error.message}).`);
      return;
    }
    nodes = [errorBox(describe(error))];
  }
  if (current !== renderCount) {
    return; // the hash changed while this view was loading; the newer render owns the page
  }
  clear(root);
  root.append(...nodes);
  root.setAttribute("aria-busy", "false");
  root.dataset.rendered = window.location.hash; // what is on screen now (tests and scripts wait on it)
}

function safeRender() {
  render().catch((error) => {
    const root = byId("view");
    clear(root);
    root.append(errorBox(describe(error)));
    root.setAttribute("aria-busy", "false");
    root.dataset.rendered = window.location.hash;
  });
}

function navigate(hash) {
  if (window.location.hash === hash) {
    safeRender();
  } else {
    window.location.hash = hash;
  }
}

async function signIn(event) {
  event.preventDefault();
  const input = byId("key-input");
  const key = input.value.trim();
  if (!key) {
    showSignIn("Type a gateway key or an admin key first.");
    return;
  }
  storeKey(key);
  try {
    await api("v1/key");
  } catch (error) {
    // 404 is the one answer that still means "in": a gateway run with ROUTEWAY_AUTH=off has no keys.
    if (!(error instanceof ApiError && error.status === 404)) {
      forgetKey();
      const reason = error instanceof ApiError && error.status === 401 ? "That key was refused" : "Sign-in failed";
      showSignIn(`${reason}: ${describe(error)}`);
      return;
    }
  }
  input.value = "";
  navigate(window.location.hash && window.location.hash !== "#" ? window.location.hash : "#/models");
}

function start() {
  byId("sign-in-form").addEventListener("submit", (event) => {
    signIn(event).catch((error) => showSignIn(describe(error)));
  });
  byId("sign-out").addEventListener("click", () => {
    forgetKey();
    showSignIn("Signed out.");
  });
  window.addEventListener("hashchange", safeRender);
  safeRender();
}

start();
