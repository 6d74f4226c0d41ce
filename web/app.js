/* checkoff web app: one script, no framework. Server truth lives in `todos`; changes not yet
   confirmed by the server live in `queue` and are laid over it when drawing, so a change is never
   lost: it stays visible until the server takes it, is retried, or is discarded by the person. */
"use strict";

const $ = (id) => document.getElementById(id);
// Where the API is: the page's own folder ("" on a server of its own, "/dev" behind an API
// Gateway stage), so every call stays beside the page that made it.
const BASE = location.pathname.replace(/\/[^/]*$/, "");
const QUEUE_KEY = "checkoff-queue";
const HAD_SESSION = "checkoff-had-session"; // a flag only; tokens never touch storage
// Flags too: the last sign-in here was through the identity provider (a reload goes back there
// by itself), and a sign-out through it is under way (to say so on the way back).
const VIA_PROVIDER = "checkoff-via-provider";
const SIGNED_OUT = "checkoff-signed-out";
// A sign-in at the provider under way: its PKCE verifier and state, kept only until the code
// comes back (they are no token: without this tab's code they are worth nothing).
const PENDING = "checkoff-sign-in";
// Where the provider sends the person back: this page.
const REDIRECT_URI = location.origin + BASE + "/";
const LOGGED_OUT = "You have logged out.";
const SESSION_ENDED = "Your session has ended; please log in again.";
// A Secure cookie is kept only over https (and on localhost): on plain http elsewhere the
// browser drops the session cookie, so a reload cannot bring the session back.
const NOT_KEPT =
  "This page is served over plain http, so your browser cannot keep you logged in across " +
  "reloads. Use https (or localhost) to stay logged in.";
const STATES = ["unstarted", "started", "completed"];
const NEXT_ACTION = { unstarted: "Start", started: "Complete", completed: "Reopen" };
const STATE_WORD = { unstarted: "Not started", started: "Started", completed: "Completed" };

let token = null; // the access token: in this variable only
let provided = null; // {refresh, id}: the provider's other tokens, while signed in through it
let epoch = 0; // counts sessions: a renewal that returns after its session ended is dropped
let tokenTimer = 0;
let renewAt = 0;
let owner = "";
let todos = new Map(); // uid -> item, as the server last told us
// What the page learnt when: a list read that began before it must not undo it (put an older
// version back, bring a deleted todo back, or drop one that arrived live).
let clock = 0;
let learnt = new Map(); // uid -> the clock when the page last learnt of it (changed or gone)
let reading = 0; // list reads in flight
let reads = new AbortController(); // aborts every read of the session when it ends
let leaving = false; // ending the session: nothing more goes out in the background
let listEtag = "";
let queue = []; // {id, kind, uid?, body?, failed?, error?}
let queueOwner = "";
let notice = ""; // the last problem, shown until dismissed
let seq = 0;
let flushing = false;
let offline = !navigator.onLine;
let signUp = false;
const rows = new Map(); // uid -> <li>
const channel = "BroadcastChannel" in window ? new BroadcastChannel("checkoff") : null;

// ---------------------------------------------------------------- HTTP

class ApiError extends Error {
  constructor(status, message, headers) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}
class NetworkError extends Error {}

async function request(method, path, { body, headers = {}, auth = true, signal } = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (auth && token) h.Authorization = "Bearer " + token;
  let res;
  try {
    // Links the server sends (Link: rel="next") already carry the base.
    res = await fetch(BASE && path.startsWith(BASE + "/") ? path : BASE + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new NetworkError("You appear to be offline; checkoff could not be reached.");
  }
  if (res.ok || res.status === 304) return res;
  let message = "";
  try {
    message = (await res.json()).message || "";
  } catch (_) {
    /* not JSON */
  }
  message = sentence(message);
  if (res.status === 429) {
    const wait = res.headers.get("Retry-After");
    if (wait) message = (message || "Too many attempts.") + ` Try again in ${wait} seconds.`;
  }
  throw new ApiError(res.status, message || `The server answered ${res.status} ${res.statusText}.`, res.headers);
}

/** Ends `text` with a full stop unless it has one. */
const stop = (text) => (/[.!?]$/.test(text) ? text : text + ".");

/** The server's words as a sentence: a capital first, a full stop last. */
function sentence(text) {
  const t = (text || "").trim();
  if (!t) return "";
  const capital = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capital) ? capital : capital + ".";
}

/** A call with the session's token: on 401, renew the session once and try again. */
async function api(method, path, opts = {}) {
  try {
    return await request(method, path, opts);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || !token) throw e;
    await renew(); // throws when the session is over
    return request(method, path, opts);
  }
}

// ---------------------------------------------------------------- session

function setToken(grant) {
  token = grant.token;
  localStorage.setItem(HAD_SESSION, "1");
  clearTimeout(tokenTimer);
  const ttl = grant.expires_in || 900;
  const seconds = Math.max(ttl - 60, ttl / 2); // about a minute early; halfway for short tokens
  renewAt = Date.now() + seconds * 1000;
  tokenTimer = setTimeout(() => renew().catch(() => {}), seconds * 1000);
}

let renewing = null;
/** A new access token: from the provider with its refresh token when signed in through it,
    else POST /refresh with the cookie, one tab at a time so two tabs never spend the same cookie. */
function renew() {
  if (renewing) return renewing;
  const at = epoch;
  const go = async () => {
    const res = await request("POST", "/refresh", {
      body: {},
      headers: { "X-Checkoff-Session": "cookie" },
      auth: false,
    });
    return res.json();
  };
  const locked = provided ? renewAtProvider(provided) : navigator.locks ? navigator.locks.request("checkoff-refresh", go) : go();
  renewing = locked
    .then((grant) => {
      if (at !== epoch) return grant; // the session ended meanwhile: it stays ended
      setToken(grant);
      reconnect();
      return grant;
    })
    .catch((e) => {
      if (at !== epoch) throw e;
      if (e instanceof ApiError && (e.status === 401 || e.status === 400 || e.status === 403)) {
        if (token) endSession(SESSION_ENDED, true);
      } else if (token) {
        clearTimeout(tokenTimer);
        tokenTimer = setTimeout(() => renew().catch(() => {}), 15000);
      }
      throw e;
    })
    .finally(() => {
      renewing = null;
    });
  return renewing;
}

/** What this service takes, asked once before the login form is shown: sign-up, passwords, an
    identity provider ({name, client_id, authorization_endpoint, token_endpoint, …} or null). */
let signupOpen = true;
let passwords = true;
let provider = null;

async function start() {
  const back = backFromProvider(); // before anything else: the code leaves the address bar
  restoreQueue();
  try {
    const res = await request("GET", "/auth/config", { auth: false });
    const config = await res.json();
    signupOpen = config.signup !== false;
    passwords = config.password !== false;
    const p = config.provider;
    provider = p && p.authorization_endpoint && p.token_endpoint && p.client_id ? p : null;
  } catch (_) {
    // Unknown: offer passwords and sign-up, and let the service answer.
  }
  if (back) return finishSignIn(back);
  if (provider && localStorage.getItem(VIA_PROVIDER)) {
    // Tokens live in memory only: the provider's own session signs the person in again.
    loading(`Signing you in with ${provider.name}…`);
    return signInWithProvider();
  }
  const signedOut = sessionStorage.getItem(SIGNED_OUT);
  sessionStorage.removeItem(SIGNED_OUT);
  try {
    if (!passwords) throw new ApiError(401, ""); // no checkoff session to renew here
    const res = await request("POST", "/refresh", {
      body: {},
      headers: { "X-Checkoff-Session": "cookie" },
      auth: false,
    });
    setToken(await res.json());
    await enter();
  } catch (e) {
    const had = localStorage.getItem(HAD_SESSION);
    localStorage.removeItem(HAD_SESSION);
    if (e instanceof NetworkError) showAuth("", e.message);
    else if (signedOut) showAuth(LOGGED_OUT);
    else if (had && !window.isSecureContext) showAuth(NOT_KEPT);
    else showAuth(had ? SESSION_ENDED : "");
  }
}

function loading(text) {
  $("auth").hidden = true;
  $("loading").textContent = text;
  $("loading").hidden = false;
}

async function enter() {
  const who = await (await api("GET", "/whoami")).json();
  owner = who.owner || who.principal || "";
  if (queueOwner !== owner) queue = [];
  queueOwner = owner;
  for (const op of queue) op.sending = false;
  $("user").textContent = owner;
  $("who").hidden = false;
  $("auth").hidden = true;
  $("loading").hidden = true;
  leaving = false;
  showView();
  await loadList();
  connect();
  flush();
  if (!onAccount()) $("new-todo").focus();
}

/** Back to the login screen, with what happened in words. Changes not yet sent are kept when
    the session ran out (they go out after logging in again as the same person). */
function endSession(message, keepQueue) {
  epoch++;
  token = null;
  if (provided) localStorage.removeItem(VIA_PROVIDER); // a reload no longer signs in by itself
  provided = null;
  owner = "";
  clearTimeout(tokenTimer);
  quiet();
  leaving = false;
  todos = new Map();
  learnt = new Map();
  listEtag = "";
  notice = "";
  if (!keepQueue) {
    queue = [];
    sessionStorage.removeItem(QUEUE_KEY);
  }
  for (const li of rows.values()) li.remove();
  rows.clear();
  $("sessions").textContent = "";
  if (onAccount()) history.replaceState(null, "", "#/"); // the next login starts at the list
  showAuth(message);
}

/** The login card: `notice` says what happened, `error` what went wrong with a password,
    `failed` what went wrong signing in with the provider. */
function showAuth(notice, error, failed) {
  $("loading").hidden = true;
  $("todos").hidden = true;
  $("account").hidden = true;
  $("who").hidden = true;
  $("auth").hidden = false;
  $("auth-notice").textContent = notice || "";
  $("auth-notice").hidden = !notice;
  authError(error);
  providerError(failed);
  setMode(signUp);
  $("password").value = "";
  if (failed && provider) $("provider-signin").focus();
  else if (passwords) $("username").focus();
  else if (provider) $("provider-signin").focus();
}

function authError(message) {
  $("auth-error").textContent = message || "";
  $("auth-error").hidden = !message;
}

function providerError(message) {
  $("provider-error").textContent = message || "";
  $("provider-error").hidden = !message;
}

function setMode(up) {
  up = up && signupOpen && passwords;
  signUp = up;
  const open = signupOpen && passwords;
  $("auth-form").hidden = !passwords;
  $("auth-switch").hidden = !open;
  $("switch-text").hidden = !open;
  const button = $("provider-signin");
  button.hidden = !provider;
  $("auth-or").hidden = !(provider && passwords);
  if (provider) {
    button.textContent = `Sign in with ${provider.name}`;
    // The only way in: the main button of the card.
    button.classList.toggle("primary", !passwords);
    button.classList.toggle("quiet", passwords);
  }
  $("auth-title").textContent = up ? "Create your account" : "Log in";
  $("auth-lede").textContent = up
    ? "One list, everywhere you are. It takes ten seconds."
    : !passwords
    ? provider
      ? `Welcome back. Sign in with ${provider.name} to see your list.`
      : "This service signs people in elsewhere; there is no login form here."
    : open
    ? "Welcome back. Your list is waiting."
    : "Welcome back. New here? Accounts are made by an administrator: ask yours for one.";
  $("auth-submit").textContent = up ? "Sign up" : "Log in";
  $("switch-text").textContent = up ? "Already have an account?" : "New to checkoff?";
  $("auth-switch").textContent = up ? "Log in instead" : "Create an account";
  $("pw-hint").hidden = !up;
  $("signup-extra").hidden = !up;
  $("password").autocomplete = up ? "new-password" : "current-password";
}

async function submitAuth(ev) {
  ev.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  providerError("");
  if (!username || !password) return authError("Please enter a username and a password.");
  const email = $("email").value.trim();
  if (signUp && $("password2").value !== password) {
    $("password2").focus();
    return authError("The two passwords differ; please type the same one twice.");
  }
  const button = $("auth-submit");
  button.disabled = true;
  authError("");
  try {
    if (signUp) {
      const body = email ? { username, password, email } : { username, password };
      await request("POST", "/users", { body, auth: false });
    }
    const res = await request("POST", "/login", {
      body: { username, password },
      headers: { "X-Checkoff-Session": "cookie" },
      auth: false,
    });
    setToken(await res.json());
    localStorage.removeItem(VIA_PROVIDER); // the last sign-in here is this one
    $("password").value = "";
    $("password2").value = "";
    $("auth-notice").hidden = true;
    signUp = false;
    await enter();
    say(`Logged in as ${owner}.`);
  } catch (e) {
    authError(e.message);
    // The field to fix: the password after a wrong one or one the rules refuse.
    const status = e instanceof ApiError ? e.status : 0;
    const password = status === 401 || (status === 400 && /password/i.test(e.message));
    $(password ? "password" : "username").focus();
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- the identity provider

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));

/** To the provider's sign-in page (authorization code with PKCE, S256). The verifier and state
    wait in sessionStorage for the code to come back to this tab; the hash comes back too. */
async function signInWithProvider() {
  const name = provider.name;
  if (!window.isSecureContext || !crypto.subtle) {
    return showAuth("", "", `Signing in with ${name} needs a secure page: open checkoff over https.`);
  }
  const verifier = random(48); // 64 characters
  const state = random(24);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  try {
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  } catch (_) {
    return showAuth("", "", `Signing in with ${name} needs this browser's session storage, which is turned off.`);
  }
  const url = new URL(provider.authorization_endpoint);
  const query = {
    response_type: "code",
    client_id: provider.client_id,
    redirect_uri: REDIRECT_URI,
    scope: provider.scope || "openid",
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  };
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  location.assign(url.href);
}

/** The provider's answer when the page is loaded with `?code=…&state=…` (or `?error=…`), taken
    out of the address bar (and so the history) with the sign-in it answers, which is spent. */
function backFromProvider() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return null;
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  } catch (_) {
    /* unreadable: as good as none */
  }
  sessionStorage.removeItem(PENDING); // one use only
  history.replaceState(null, "", BASE + "/" + ((pending && pending.hash) || ""));
  return { params, pending };
}

/** Back from the provider: the code becomes tokens, kept in memory only, and the person enters. */
async function finishSignIn({ params, pending }) {
  const name = provider ? provider.name : "your identity provider";
  const fail = (why) => {
    localStorage.removeItem(VIA_PROVIDER); // no loop back to the provider on the next load
    showAuth("", "", `Signing in with ${name} failed: ${stop(why)}`);
  };
  if (!pending || !pending.state || params.get("state") !== pending.state) {
    return fail("the answer did not come from a sign-in started in this tab. Please try again.");
  }
  if (params.has("error")) return fail(params.get("error_description") || params.get("error"));
  if (!provider) return fail("checkoff could not be asked where to sign in. Please try again.");
  loading(`Signing you in with ${name}…`);
  try {
    const grant = await tokenCall({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: REDIRECT_URI,
      client_id: provider.client_id,
      code_verifier: pending.verifier,
    });
    provided = { refresh: grant.refresh_token || "", id: grant.id_token || "" };
    setToken({ token: grant.access_token, expires_in: grant.expires_in });
    localStorage.setItem(VIA_PROVIDER, "1");
    signUp = false;
    await enter();
    say(`Signed in with ${name} as ${owner}.`);
  } catch (e) {
    epoch++;
    token = null;
    provided = null;
    clearTimeout(tokenTimer);
    fail(e.message);
  }
}

/** A renewal with the provider's refresh token; a refused one (400, 401) ends the session. */
async function renewAtProvider(held) {
  if (!held.refresh) throw new ApiError(401, "No refresh token.");
  const grant = await tokenCall({ grant_type: "refresh_token", refresh_token: held.refresh, client_id: provider.client_id });
  if (grant.refresh_token) held.refresh = grant.refresh_token; // where the provider rotates them
  if (grant.id_token) held.id = grant.id_token;
  return { token: grant.access_token, expires_in: grant.expires_in };
}

/** A form-encoded POST to the provider's token endpoint, which the page's Content-Security-Policy
    lets it call (with the revocation endpoint, and nothing else besides checkoff). */
async function tokenCall(form) {
  let res;
  try {
    res = await fetch(provider.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (_) {
    throw new NetworkError(`${provider.name} could not be reached; you appear to be offline.`);
  }
  let body = {};
  try {
    body = await res.json();
  } catch (_) {
    /* not JSON */
  }
  if (res.ok && body.access_token) return body;
  const why = body.error_description || body.error || `${provider.name} answered ${res.status}`;
  throw new ApiError(res.ok ? 502 : res.status, stop(why), res.headers);
}

/** Signs out of the provider too: the refresh token is revoked where the provider can (Cognito's
    logout leaves it working), and its logout endpoint ends its session and comes back here. */
async function signOutAtProvider() {
  const { id, refresh } = provided;
  await leave(async () => localStorage.removeItem(VIA_PROVIDER), LOGGED_OUT);
  if (refresh && provider.revocation_endpoint) {
    loading(`Signing you out of ${provider.name}…`);
    await fetch(provider.revocation_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refresh, client_id: provider.client_id }).toString(),
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout ? AbortSignal.timeout(5000) : undefined,
    }).catch(() => {}); // the logout below still ends the provider's session
  }
  const end = provider && provider.end_session_endpoint;
  if (!end) return;
  const url = new URL(end);
  const param = provider.logout_redirect_param || "post_logout_redirect_uri";
  url.searchParams.set("client_id", provider.client_id);
  url.searchParams.set(param, REDIRECT_URI);
  if (id && param !== "logout_uri") url.searchParams.set("id_token_hint", id); // not Cognito's
  sessionStorage.setItem(SIGNED_OUT, "1");
  loading(`Signing you out of ${provider.name}…`);
  location.assign(url.href);
}

/** Ends this session with `call` (logout, logout everywhere, deleting the account). The stream
    and every read stop first, so nothing goes out with a token that is about to end; if the
    call fails, the session carries on as it was. */
async function leave(call, message) {
  await flush().catch(() => {});
  leaving = true;
  quiet();
  try {
    await call();
  } catch (e) {
    leaving = false;
    if (token) {
      connect();
      if (onAccount() && !provided) loadSessions();
    }
    throw e;
  }
  localStorage.removeItem(HAD_SESSION);
  if (channel) channel.postMessage("logout");
  endSession(message);
}

async function logout() {
  try {
    if (provided) return await signOutAtProvider();
    // Only the network stops a logout: a session the server no longer knows is over anyway.
    const out = () => api("POST", "/logout").catch((e) => { if (e instanceof NetworkError) throw e; });
    await leave(out, LOGGED_OUT);
  } catch (e) {
    tell("Could not log out: " + e.message);
  }
}

/** Stops everything that reads in the background: the stream, polling and list reads. */
function quiet() {
  stopLive();
  reads.abort();
  reads = new AbortController();
}

// ---------------------------------------------------------------- the list

/** Reads the whole list and lays it under what the page learnt while the read was under way:
    a newer version stays, a todo deleted or created meanwhile stays deleted or created. */
async function loadList() {
  if (!token || leaving) return false;
  const since = clock;
  const { signal } = reads;
  let path = "/todos?limit=1000";
  const headers = listEtag ? { "If-None-Match": listEtag } : {};
  const fresh = new Map();
  let first = true;
  reading++;
  try {
    while (path) {
      const res = await api("GET", path, { headers: first ? headers : {}, signal });
      if (res.status === 304) return false;
      if (first) listEtag = res.headers.get("ETag") || "";
      first = false;
      for (const item of await res.json()) fresh.set(item.uid, item);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("Link") || "");
      path = next ? next[1] : "";
    }
    if (signal.aborted) return false;
    const newer = (uid) => (learnt.get(uid) || 0) > since;
    for (const item of fresh.values()) if (todos.has(item.uid) || !newer(item.uid)) take(item);
    for (const uid of [...todos.keys()]) if (!fresh.has(uid) && !newer(uid)) forget(uid);
  } finally {
    if (--reading === 0) for (const uid of [...learnt.keys()]) if (!todos.has(uid)) learnt.delete(uid);
  }
  draw();
  return true;
}

/** What the server said of a todo, unless the page already knows a newer version. */
function take(item) {
  const had = todos.get(item.uid);
  if (had && had.version > item.version) return;
  todos.set(item.uid, item);
  learnt.set(item.uid, ++clock);
}

function forget(uid) {
  todos.delete(uid);
  learnt.set(uid, ++clock);
}

/** What the person sees: the server's list with every change still in the queue laid over it. */
function view() {
  const out = new Map();
  for (const [uid, t] of [...todos].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out.set(uid, { ...t });
  for (const op of queue) {
    const mark = (t) => {
      t.pending = true;
      if (op.failed) t.error = op.error;
      t.op = op;
    };
    if (op.kind === "create") {
      const t = { uid: op.uid, description: op.body.description, state: "unstarted" };
      mark(t);
      out.set(op.uid, t);
    } else if (op.kind === "patch") {
      const t = out.get(op.uid);
      if (t) {
        Object.assign(t, op.body);
        mark(t);
      }
    } else if (op.kind === "delete") {
      const t = out.get(op.uid);
      if (t && op.failed) mark(t);
      else out.delete(op.uid);
    } else if (op.kind === "complete-all") {
      for (const t of out.values()) if (t.state !== "completed") t.state = "completed";
    } else if (op.kind === "clear-completed") {
      for (const [uid, t] of out) if (t.state === "completed") out.delete(uid);
    }
  }
  return [...out.values()];
}

function filterOf() {
  const h = location.hash.replace(/^#\/?/, "");
  return h === "active" || h === "completed" ? h : "all";
}

function draw() {
  if (!token) return;
  const items = view();
  const filter = filterOf();
  const shown = items.filter((t) =>
    filter === "all" ? true : filter === "active" ? t.state !== "completed" : t.state === "completed"
  );
  const list = $("list");
  const keep = new Set(shown.map((t) => t.uid));
  for (const [uid, li] of rows) {
    if (!keep.has(uid) && !li.classList.contains("editing")) {
      li.remove();
      rows.delete(uid);
    }
  }
  let at = list.firstElementChild;
  for (const t of shown) {
    let li = rows.get(t.uid);
    if (!li) {
      li = row();
      rows.set(t.uid, li);
    }
    fill(li, t);
    if (li !== at) list.insertBefore(li, at);
    else at = at.nextElementSibling;
  }
  const left = items.filter((t) => t.state !== "completed").length;
  const done = items.length - left;
  $("count").textContent = `${left} ${left === 1 ? "item" : "items"} left`;
  $("foot").hidden = items.length === 0;
  $("tip").hidden = items.length === 0;
  $("toolbar").hidden = left === 0;
  $("clear-completed").hidden = done === 0;
  const empty = shown.length === 0;
  $("empty").hidden = !empty;
  if (empty) {
    const [title, text] =
      items.length === 0
        ? ["Nothing to do yet", "Add your first todo above and press Enter."]
        : filter === "active"
        ? ["All done!", "Every todo is completed. Enjoy the quiet."]
        : ["Nothing completed yet", "Completed todos will show up here."];
    $("empty-title").textContent = title;
    $("empty-text").textContent = text;
  }
  for (const a of document.querySelectorAll("[data-filter]")) {
    if (a.dataset.filter === filter) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  drawBanner();
}

function row() {
  const li = $("todo-tpl").content.firstElementChild.cloneNode(true);
  const q = (s) => li.querySelector(s);
  q(".state").addEventListener("click", () => advance(li.dataset.uid));
  q(".del").addEventListener("click", () => remove(li.dataset.uid));
  q(".edit-btn").addEventListener("click", () => beginEdit(li));
  q(".text").addEventListener("dblclick", () => beginEdit(li));
  q(".retry").addEventListener("click", () => retry(li.dataset.uid));
  q(".discard").addEventListener("click", () => discard(li.dataset.uid));
  const input = q(".edit");
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      endEdit(li, true);
    } else if (e.key === "Escape") {
      e.preventDefault();
      endEdit(li, false);
    }
  });
  input.addEventListener("blur", () => endEdit(li, true));
  return li;
}

function fill(li, t) {
  const q = (s) => li.querySelector(s);
  li.dataset.uid = t.uid;
  li.dataset.state = t.state;
  li.classList.toggle("pending", !!t.pending && !t.error);
  li.classList.toggle("failed", !!t.error);
  const name = `“${t.description}”`;
  q(".text").textContent = t.description;
  q(".state").setAttribute("aria-label", `${NEXT_ACTION[t.state]} ${name} (now: ${STATE_WORD[t.state].toLowerCase()})`);
  q(".state").title = `${NEXT_ACTION[t.state]} (now: ${STATE_WORD[t.state].toLowerCase()})`;
  q(".edit-btn").setAttribute("aria-label", `Edit ${name}`);
  q(".edit-btn").title = "Edit";
  q(".del").setAttribute("aria-label", `Delete ${name}`);
  q(".del").title = "Delete";
  q(".edit").setAttribute("aria-label", `Edit ${name}`);
  const meta = q(".meta");
  const note = t.error
    ? "Not saved: " + t.error
    : t.pending
    ? offline
      ? "Waiting for the network…"
      : "Saving…"
    : t.state === "started"
    ? "In progress"
    : "";
  meta.textContent = note;
  meta.hidden = !note;
  meta.classList.toggle("bad", !!t.error);
  q(".retry").hidden = q(".discard").hidden = !t.error;
  if (t.error) {
    q(".retry").setAttribute("aria-label", `Retry saving ${name}`);
    q(".discard").setAttribute("aria-label", `Discard the unsaved change to ${name}`);
  }
}

function current(uid) {
  return view().find((t) => t.uid === uid);
}

// ---------------------------------------------------------------- what a person does

function addTodo(ev) {
  ev.preventDefault();
  const input = $("new-todo");
  const description = input.value.trim();
  if (!description) {
    input.value = "";
    return;
  }
  input.value = "";
  // The key makes a create that is sent again (its answer was lost) count once.
  const key = crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2);
  enqueue({ kind: "create", uid: "new-" + Date.now().toString(36) + "-" + seq++, key, body: { description } });
  say(`Added “${description}”.`);
}

function advance(uid) {
  const t = current(uid);
  if (!t) return;
  const state = STATES[(STATES.indexOf(t.state) + 1) % STATES.length];
  change(uid, { state });
  say(`“${t.description}” is now ${STATE_WORD[state].toLowerCase()}.`);
}

function remove(uid) {
  const t = current(uid);
  const next = rows.get(uid) && (rows.get(uid).nextElementSibling || rows.get(uid).previousElementSibling);
  if (uid.startsWith("new-")) dropCreate(uid);
  else enqueue({ kind: "delete", uid });
  if (t) say(`Deleted “${t.description}”.`);
  const target = next && next.isConnected ? next.querySelector(".del") : $("new-todo");
  (target || $("new-todo")).focus();
}

function change(uid, body) {
  const create = queue.find((op) => op.kind === "create" && op.uid === uid);
  if (create && !create.tried && !body.state) {
    Object.assign(create.body, body); // never sent: fold the edit into it (once sent, its key
    // stands for that body, so the edit follows as a change of its own)
    save();
    draw();
    return;
  }
  enqueue({ kind: "patch", uid, body });
}

function beginEdit(li) {
  if (li.classList.contains("editing")) return;
  const input = li.querySelector(".edit");
  const text = li.querySelector(".text");
  li.classList.add("editing");
  input.value = text.textContent;
  input.hidden = false;
  text.hidden = true;
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

function endEdit(li, keep) {
  if (!li.classList.contains("editing")) return;
  const input = li.querySelector(".edit");
  const uid = li.dataset.uid;
  const before = li.querySelector(".text").textContent;
  const value = input.value.trim();
  li.classList.remove("editing");
  input.hidden = true;
  li.querySelector(".text").hidden = false;
  const hadFocus = document.activeElement === input;
  if (keep && value !== before) {
    if (!value) return remove(uid);
    change(uid, { description: value });
    say(`Changed to “${value}”.`);
  } else draw();
  if (hadFocus && li.isConnected) li.querySelector(".edit-btn").focus();
}

function completeAll() {
  enqueue({ kind: "complete-all" });
  say("Marked all todos completed.");
}

function clearCompleted() {
  const n = view().filter((t) => t.state === "completed").length;
  enqueue({ kind: "clear-completed" });
  say(`Cleared ${n} completed ${n === 1 ? "todo" : "todos"}.`);
  $("new-todo").focus();
}

// ---------------------------------------------------------------- the queue of changes

function enqueue(op) {
  op.id = seq++;
  queue.push(op);
  save();
  draw();
  flush();
}

function save() {
  try {
    sessionStorage.setItem(QUEUE_KEY, JSON.stringify({ owner: queueOwner, seq, ops: queue }));
  } catch (_) {
    /* storage full or disabled: the queue still lives in memory */
  }
}

function restoreQueue() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(QUEUE_KEY) || "null");
    if (saved && Array.isArray(saved.ops)) {
      queue = saved.ops.map((op) => ({ ...op, sending: false }));
      queueOwner = saved.owner || "";
      seq = Math.max(seq, saved.seq || 0);
    }
  } catch (_) {
    queue = [];
  }
}

function dropCreate(uid) {
  queue = queue.filter((op) => op.uid !== uid);
  save();
  draw();
}

/** Send waiting changes in order. A refused one is marked (with Retry) and does not hold up the rest. */
async function flush() {
  if (flushing || !token || leaving) return;
  flushing = true;
  try {
    for (;;) {
      const op = queue.find((o) => !o.failed && !waitsFor(o));
      if (!op) break;
      op.sending = true;
      op.tried = true;
      try {
        await send(op);
        queue.splice(queue.indexOf(op), 1);
        setOffline(false);
      } catch (e) {
        op.sending = false;
        if (e instanceof NetworkError) {
          setOffline(true);
          break;
        }
        if (!token) break;
        op.failed = true;
        op.error = e.message;
        if (e instanceof ApiError && e.status === 412) {
          op.error = "It was changed elsewhere in the meantime; the list now shows the latest. Retry to apply your change anyway.";
          await loadList().catch(() => {});
        }
        if (op.uid) say(`Not saved: ${op.error}`);
      } finally {
        save();
        draw();
      }
    }
  } finally {
    flushing = false;
  }
}

function waitsFor(op) {
  return op.uid && op.uid.startsWith("new-") && op.kind !== "create";
}

async function send(op) {
  if (op.kind === "create") {
    const headers = op.key ? { "Idempotency-Key": op.key } : {};
    const item = await (await api("POST", "/todos", { body: op.body, headers })).json();
    take(item);
    const li = rows.get(op.uid);
    if (li) {
      rows.delete(op.uid);
      if (rows.has(item.uid)) li.remove(); // the live event drew it first
      else {
        rows.set(item.uid, li);
        li.dataset.uid = item.uid;
      }
    }
    for (const o of queue) if (o.uid === op.uid) o.uid = item.uid;
  } else if (op.kind === "patch") {
    const known = todos.get(op.uid);
    const headers = known && !op.force ? { "If-Match": `"${known.version}"` } : {};
    try {
      take(await (await api("PATCH", "/todos/" + encodeURIComponent(op.uid), { body: op.body, headers })).json());
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        forget(op.uid); // gone elsewhere: nothing left to change
        problem("That todo was deleted elsewhere.");
        return;
      }
      throw e;
    }
  } else if (op.kind === "delete") {
    try {
      await api("DELETE", "/todos/" + encodeURIComponent(op.uid));
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    forget(op.uid);
  } else if (op.kind === "complete-all") {
    await api("POST", "/todos/complete-all");
    await loadList();
  } else if (op.kind === "clear-completed") {
    await api("DELETE", "/todos?state=completed");
    for (const [uid, t] of [...todos]) if (t.state === "completed") forget(uid);
    await loadList();
  }
}

function opFor(uid) {
  return queue.find((o) => o.failed && (o.uid === uid || (!o.uid && uid === undefined)));
}

function retry(uid) {
  const op = opFor(uid);
  if (!op) return;
  op.failed = false;
  op.force = true;
  op.error = "";
  save();
  draw();
  flush();
}

function discard(uid) {
  const op = opFor(uid);
  if (!op) return;
  if (op.kind === "create") return dropCreate(op.uid);
  queue.splice(queue.indexOf(op), 1);
  save();
  draw();
  say("Change discarded.");
}

function setOffline(now) {
  if (offline === now) return;
  offline = now;
  draw();
}

let bannerKey = "";
function drawBanner() {
  const bulk = queue.find((o) => o.failed && !o.uid);
  const waiting = queue.filter((o) => !o.failed).length;
  const key = `${bulk ? bulk.id : ""}|${offline}|${waiting}|${notice}`;
  if (key === bannerKey) return;
  bannerKey = key;
  const actions = $("banner-actions");
  actions.textContent = "";
  let text = "";
  if (bulk) {
    text = `“${bulk.kind === "complete-all" ? "Mark all completed" : "Clear completed"}” failed: ${bulk.error}`;
    for (const [label, fn] of [
      ["Retry", () => retry(undefined)],
      ["Discard", () => discard(undefined)],
    ]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn quiet";
      b.textContent = label;
      b.addEventListener("click", fn);
      actions.append(b);
    }
  } else if (offline) {
    text = waiting
      ? `You are offline. ${waiting} ${waiting === 1 ? "change is" : "changes are"} kept here and will be sent when you are back.`
      : "You are offline. Changes you make are kept here and sent when you are back.";
  } else if (notice) {
    text = notice;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn quiet";
    b.textContent = "Dismiss";
    b.addEventListener("click", () => {
      notice = "";
      drawBanner();
      $("new-todo").focus();
    });
    actions.append(b);
  }
  $("banner-text").textContent = text;
  $("banner").hidden = !text;
  $("banner").classList.toggle("bad", !!bulk || (!!notice && !offline));
}

// ---------------------------------------------------------------- live updates

let live = null; // AbortController of the open stream
let lastEventId = "";
let backoff = 1000;
let liveTimer = 0;
let pollTimer = 0;
let polling = false;

function stopLive() {
  if (live) live.abort();
  live = null;
  clearTimeout(liveTimer);
  clearInterval(pollTimer);
  polling = false;
}

function reconnect() {
  if (!token || polling || leaving) return;
  if (live) live.abort();
  live = null;
  clearTimeout(liveTimer);
  connect();
}

function later(ms) {
  clearTimeout(liveTimer);
  liveTimer = setTimeout(connect, ms);
}

async function connect() {
  if (!token || live || polling || leaving) return;
  const ctrl = new AbortController();
  live = ctrl;
  const headers = { Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  try {
    const res = await api("GET", "/todos/events", { headers, signal: ctrl.signal });
    backoff = 1000;
    if (!lastEventId) loadList().catch(() => {}); // anything missed before the stream opened
    await readEvents(res.body, ctrl.signal);
    if (live === ctrl) {
      live = null;
      later(200); // the server ended it (say, the token expired): open it again
    }
  } catch (e) {
    if (live !== ctrl) return; // replaced on purpose
    live = null;
    if (e instanceof ApiError && [404, 405, 501].includes(e.status)) return startPolling();
    if (!token) return;
    if (e instanceof NetworkError) setOffline(true);
    later(backoff);
    backoff = Math.min(backoff * 2, 30000);
  }
}

async function readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let ev = { type: "", data: [], id: null };
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    if (offline) {
      setOffline(false);
      flush();
    }
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (ev.id !== null) lastEventId = ev.id;
        if (ev.data.length || ev.type) handle(ev.type || "message", ev.data.join("\n"));
        ev = { type: "", data: [], id: null };
        continue;
      }
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") ev.type = value;
      else if (field === "data") ev.data.push(value);
      else if (field === "id" && !value.includes("\0")) ev.id = value;
    }
  }
}

function handle(type, data) {
  let body = {};
  try {
    body = data ? JSON.parse(data) : {};
  } catch (_) {
    return;
  }
  if (type === "created" || type === "updated") {
    const fresh = !todos.has(body.uid);
    take(body);
    if (fresh && !queue.some((o) => o.kind === "create")) say(`New todo: “${body.description}”.`);
  } else if (type === "deleted") {
    forget(body.uid);
  } else if (type === "reset") {
    listEtag = "";
    loadList().catch(() => {});
    return;
  } else return;
  draw();
}

function startPolling() {
  polling = true;
  clearInterval(pollTimer);
  pollTimer = setInterval(() => {
    if (token && !document.hidden) loadList().then(() => setOffline(false), (e) => e instanceof NetworkError && setOffline(true));
  }, 3000);
}

// ---------------------------------------------------------------- the account page

function onAccount() {
  return /^#\/?account$/.test(location.hash);
}

/** The list or the account page, as the address says. */
function showView() {
  if (!token) return;
  const account = onAccount();
  const was = !$("account").hidden;
  $("account").hidden = !account;
  $("todos").hidden = account;
  if (account && !was) openAccount();
  else if (!account) {
    draw();
    if (was) $("new-todo").focus();
  }
}

function openAccount() {
  for (const id of ["pw-current", "pw-new", "pw-new2", "delete-password"]) $(id).value = "";
  $("delete-confirm").checked = false;
  // Signed in through the provider: no checkoff password and no checkoff session to manage.
  const outside = !!provided;
  $("password-panel").hidden = outside;
  $("sessions-panel").hidden = outside;
  $("provider-panel").hidden = !outside;
  $("delete-password-label").hidden = $("delete-password").hidden = outside;
  $("delete-fresh").hidden = $("delete-confirm-label").hidden = !outside;
  if (outside) $("provider-title").textContent = `Signed in with ${provider.name}`;
  quietAccount();
  $("account-title").focus();
  if (!outside) loadSessions();
}

/** Clears what the account page said last: each action speaks afresh, beside its button. */
function quietAccount() {
  for (const id of ACCOUNT_MESSAGES) fieldError(id, "");
}
const ACCOUNT_MESSAGES = ["account-notice", "pw-error", "pw-status", "sessions-error", "sessions-status", "export-error", "export-status", "delete-error"];

function fieldError(id, message) {
  $(id).textContent = message || "";
  $(id).hidden = !message;
}

/** Says `text` beside the action that did it, and to screen readers. */
function done(id, text) {
  fieldError(id, text);
  say(text);
}

/** Gives the focus back to a button that was disabled while it worked (disabling drops it). */
function refocus(button) {
  if (document.activeElement === document.body && button.isConnected) button.focus();
}

/** A problem in words, where the person is looking. */
function tell(text) {
  if (onAccount() && token) done("account-notice", text);
  else problem(text);
}

const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

async function loadSessions() {
  if (provided) return;
  try {
    const res = await api("GET", "/sessions", { signal: reads.signal });
    const sessions = await res.json();
    const ul = $("sessions");
    ul.textContent = "";
    for (const s of sessions) ul.append(sessionRow(s));
    fieldError("sessions-error", "");
  } catch (e) {
    if (e.name !== "AbortError" && token) fieldError("sessions-error", e.message);
  }
}

function sessionRow(s) {
  const li = document.createElement("li");
  const text = document.createElement("span");
  const what = document.createElement("span");
  what.className = "what";
  const apiToken = s.kind === "api";
  // The id's first characters tell two rows apart (checkoff keeps no device names).
  const tag = s.id.slice(0, 6);
  what.textContent = s.current
    ? "This browser"
    : apiToken
    ? `API token ${tag}${s.routes ? " for " + s.routes.join(", ") : ""}`
    : `Logged in elsewhere (${tag})`;
  const since = document.createElement("span");
  since.className = "when";
  since.textContent = `Since ${when(s.created_at)}; ${apiToken ? "works until" : "renews until"} ${when(s.expires_at)}`;
  text.append(what, since);
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn quiet";
  b.textContent = s.current ? "Log out" : apiToken ? "Revoke" : "End";
  b.setAttribute("aria-label", s.current ? "Log out of this browser" : `${b.textContent} the ${apiToken ? "API token" : "session"} ${tag} since ${when(s.created_at)}`);
  b.addEventListener("click", () => (s.current ? logout() : endOne(s, li)));
  li.append(text, b);
  return li;
}

async function endOne(s, li) {
  const next = li.nextElementSibling || li.previousElementSibling;
  li.querySelector("button").disabled = true;
  quietAccount();
  try {
    await api("DELETE", "/sessions/" + encodeURIComponent(s.id));
    done("sessions-status", s.kind === "api" ? "The API token is revoked." : "That session has ended.");
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) fieldError("sessions-error", e.message);
  }
  await loadSessions();
  const target = next && next.isConnected ? next.querySelector("button") : null;
  (target || $("logout-everywhere")).focus();
}

async function logoutEverywhere() {
  quietAccount();
  try {
    await leave(() => api("DELETE", "/sessions"), "You have logged out everywhere.");
  } catch (e) {
    fieldError("sessions-error", e.message);
  }
}

async function changePassword(ev) {
  ev.preventDefault();
  const current = $("pw-current").value;
  const next = $("pw-new").value;
  const fail = (message, field) => {
    fieldError("pw-error", message);
    $(field).focus();
  };
  if (!current) return fail("Please enter your current password.", "pw-current");
  if (!next) return fail("Please choose a new password.", "pw-new");
  if ($("pw-new2").value !== next) return fail("The two new passwords differ; please type the same one twice.", "pw-new2");
  const button = ev.submitter || $("pw-form").querySelector("button");
  button.disabled = true;
  quietAccount();
  try {
    await api("PUT", `/users/${encodeURIComponent(owner)}/password`, {
      body: { current_password: current, new_password: next },
    });
    for (const id of ["pw-current", "pw-new", "pw-new2"]) $(id).value = "";
    done("pw-status", "Your password is changed. Every other login of yours has ended; API tokens stay until you revoke them.");
    loadSessions();
  } catch (e) {
    const status = e instanceof ApiError ? e.status : 0;
    fail(e.message, status === 400 ? "pw-new" : "pw-current");
  } finally {
    button.disabled = false;
    refocus(button);
  }
}

async function exportData() {
  const button = $("export");
  button.disabled = true;
  quietAccount();
  try {
    const res = await api("GET", `/users/${encodeURIComponent(owner)}/export`);
    const blob = await res.blob();
    const named = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") || "");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = (named ? named[1] : "checkoff.json").replace(/[\\/:*?"<>|]/g, "_"); // as browsers save it
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    done("export-status", `Your data is saved as ${a.download} (see your downloads).`);
  } catch (e) {
    fieldError("export-error", e.message);
  } finally {
    button.disabled = false;
    refocus(button);
  }
}

async function deleteAccount(ev) {
  ev.preventDefault();
  // A provider's account has no password here: a recent sign-in proves it is its owner.
  const field = provided ? "delete-confirm" : "delete-password";
  const password = $("delete-password").value;
  if (provided ? !$(field).checked : !password) {
    fieldError("delete-error", provided ? "Please tick the box to confirm." : "Please enter your password to confirm.");
    return $(field).focus();
  }
  const button = ev.submitter || $("delete-form").querySelector("button");
  button.disabled = true;
  quietAccount();
  try {
    const body = provided ? undefined : { current_password: password };
    const gone = () => api("DELETE", `/users/${encodeURIComponent(owner)}`, { body });
    await leave(gone, "Your account and all its todos are deleted.");
  } catch (e) {
    fieldError("delete-error", e.message);
    $(field).focus();
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- messages

let sayTimer = 0;
function say(text) {
  const live = $("live");
  live.textContent = "";
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => (live.textContent = text), 50);
}

function problem(text) {
  notice = text;
  drawBanner();
  say(text);
}

// ---------------------------------------------------------------- wiring

$("auth-form").addEventListener("submit", submitAuth);
$("auth-switch").addEventListener("click", () => {
  setMode(!signUp);
  authError("");
  providerError("");
  $("auth-notice").hidden = true;
  $("username").focus();
});
$("logout").addEventListener("click", logout);
$("provider-signin").addEventListener("click", () => {
  authError("");
  providerError("");
  signInWithProvider().catch((e) => providerError(`Signing in with ${provider.name} failed: ${stop(e.message)}`));
});
$("new-form").addEventListener("submit", addTodo);
$("complete-all").addEventListener("click", completeAll);
$("clear-completed").addEventListener("click", clearCompleted);
window.addEventListener("hashchange", showView);
$("pw-form").addEventListener("submit", changePassword);
$("logout-everywhere").addEventListener("click", logoutEverywhere);
$("export").addEventListener("click", exportData);
$("delete-form").addEventListener("submit", deleteAccount);
window.addEventListener("online", () => {
  setOffline(false);
  flush();
  reconnect();
});
window.addEventListener("offline", () => setOffline(true));
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && token) {
    if (Date.now() >= renewAt) renew().catch(() => {}); // timers sleep with the tab
    flush();
    if (!live && !polling) connect();
    if (onAccount()) loadSessions(); // logins made meanwhile (none to show for a provider's)
  }
});
setInterval(() => {
  if (token && queue.some((o) => !o.failed)) flush();
}, 5000);
if (channel) channel.onmessage = (m) => m.data === "logout" && token && endSession("You logged out in another tab.");

start();
