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
// The person's zone, not the server's: "today", "tomorrow" and a due's time are theirs.
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const VIEWS = ["today", "upcoming", "overdue"];
const PRIORITY_WORD = { low: "Low priority", medium: "Medium priority", high: "High priority" };
const VIEW_EMPTY = {
  today: ["Nothing due today", "Todos due today, in your time zone, show here."],
  upcoming: ["Nothing coming up", "Todos due after today show here."],
  overdue: ["Nothing overdue", "You are on top of things."],
};

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
let lists = []; // GET /lists: the Inbox first, then the person's lists, then those shared with them
let chosen = ""; // the id of the list shown ("" until the lists are read: the Inbox)
let queue = []; // {id, kind, uid?, body?, base?, failed?, error?}
let queueOwner = "";
let notice = ""; // the last problem, shown until dismissed
let seq = 0;
let flushing = false;
let offline = !navigator.onLine;
let signUp = false;
const rows = new Map(); // uid -> <li>
// A search or date view (in the address) is the server's answer: which todos, in which order.
let lens = null; // {key, ranks: Map uid -> place, error?}
let lensSeq = 0;
let lensTimer = 0;
let drawing = false; // rows are being put in order: the focus leaving one is no blur of the person's
let dragging = null; // the <li> being dragged: nothing redraws under the pointer
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
  await loadLists();
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
  lists = [];
  chosen = "";
  closeDrawer();
  $("lists-nav").hidden = $("lists-toggle").hidden = true;
  lens = null;
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

// ---------------------------------------------------------------- lists

const LIST_SHOWN = "checkoff-list"; // which list was shown last (its id only)

/** The list shown: the one chosen, else the Inbox. */
const listShown = () => lists.find((l) => l.id === chosen) || lists[0] || null;
/** The list shown when it is someone else's (shared with this person). */
const sharedList = () => {
  const l = listShown();
  return l && l.role !== "owner" ? l : null;
};
/** Whether a todo belongs in the list shown (one made here before the server answered has
    the list it was made in, or none: the Inbox). */
function shownHere(t) {
  const l = listShown();
  if (!l) return true;
  return (t.list || (t.username && t.username !== owner ? "" : lists[0].id)) === l.id;
}

async function loadLists() {
  if (!token || leaving) return;
  const res = await api("GET", "/lists", { signal: reads.signal });
  const was = chosen && listShown();
  lists = await res.json();
  const wanted = chosen || sessionStorage.getItem(LIST_SHOWN) || "";
  chosen = lists.some((l) => l.id === wanted) ? wanted : lists.length ? lists[0].id : "";
  if (was && was.id !== chosen) gone(was);
  drawLists();
}

function drawLists() {
  const own = $("lists");
  const shared = $("shared-lists");
  const focused = document.activeElement && document.activeElement.dataset.list; // drawn afresh, it keeps the focus
  own.textContent = shared.textContent = "";
  for (const l of lists) (l.role === "owner" ? own : shared).append(listItem(l));
  const again = focused && $("lists-nav").querySelector(`.list-item[data-list="${focused}"]`);
  if (again) again.focus();
  $("shared-title").hidden = shared.hidden = !shared.children.length;
  $("lists-nav").hidden = $("lists-toggle").hidden = lists.length === 0;
  const l = listShown();
  const title = $("list-title");
  title.textContent = l ? l.name : "";
  if (!l) return;
  const mine = l.role === "owner";
  if (!mine) title.append(ownerLine(l, l.role === "viewer" ? " · view only" : ""));
  $("list-more").hidden = l.inbox;
  $("list-owner-tools").hidden = $("delete-list").hidden = !mine;
  $("leave-list").hidden = mine;
  $("list-name").value = l.name;
  const role = l.role === "editor" ? "you can change its todos" : "you can view it";
  $("list-about").textContent = mine ? `Your list “${l.name}”: rename it, share it or delete it here.` : `“${l.name}” is ${l.owner}'s list, shared with you: ${role}.`;
  $("new-form").hidden = l.role === "viewer";
  if (!l.inbox) loadMembers(l);
}

/** A list in the sidebar: its name, and whose it is when it is someone else's. */
function listItem(l) {
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "list-item";
  b.dataset.list = l.id;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = l.name;
  b.append(name);
  if (l.role !== "owner") b.append(ownerLine(l, ""));
  if (l.id === chosen) b.setAttribute("aria-current", "true");
  b.addEventListener("click", () => {
    closeDrawer();
    chooseList(l.id);
  });
  li.append(b);
  return li;
}

function ownerLine(l, more) {
  const by = document.createElement("span");
  by.className = "owner";
  by.textContent = ` from ${l.owner}${more}`;
  return by;
}

// On a narrow screen the sidebar is a drawer over the page, which waits (inert) behind it.
const WIDE = matchMedia("(min-width: 760px)");
const drawerOpen = () => $("lists-nav").classList.contains("open");

function openDrawer() {
  const nav = $("lists-nav");
  nav.classList.add("open");
  $("scrim").hidden = false;
  $("lists-toggle").setAttribute("aria-expanded", "true");
  document.querySelector(".bar").inert = $("main-col").inert = true;
  (nav.querySelector('[aria-current="true"]') || $("lists-close")).focus();
}

function closeDrawer() {
  if (!drawerOpen()) return;
  $("lists-nav").classList.remove("open");
  $("scrim").hidden = true;
  $("lists-toggle").setAttribute("aria-expanded", "false");
  document.querySelector(".bar").inert = $("main-col").inert = false;
  if (!WIDE.matches) $("lists-toggle").focus();
}

/** After the list shown went: the focus on the list shown now, in the sidebar. */
function focusChosen() {
  const b = $("lists-nav").querySelector('[aria-current="true"]');
  if (b) b.focus();
}

async function chooseList(id) {
  if (id === chosen) return;
  const was = sharedList();
  chosen = id;
  sessionStorage.setItem(LIST_SHOWN, id);
  listError("");
  drawLists();
  // One's own lists are all read at once; a shared one is read by itself.
  if (was || sharedList()) {
    listEtag = "";
    await loadList().catch(() => {});
  }
  draw();
}

function lostList(l) {
  lists = lists.filter((x) => x.id !== l.id);
  chosen = lists.length ? lists[0].id : "";
  gone(l);
  drawLists();
  loadList().catch(() => {});
}

/** The list shown went elsewhere (deleted, or no longer shared with this person): the Inbox is
    shown instead, and why is said. */
function gone(l) {
  listEtag = "";
  problem(l.role === "owner" ? `The list “${l.name}” was deleted.` : `“${l.name}” is no longer shared with you.`);
}

/** After the list shown went (deleted, left): the lists read again, the Inbox shown, and the
    focus on it in the sidebar. */
async function backToInbox() {
  chosen = "";
  await loadLists();
  listEtag = "";
  await loadList();
  focusChosen();
}

function listError(text) {
  $("list-error").textContent = text;
  $("list-error").hidden = !text;
}

/** Runs a change of lists; on failure its words show under the lists. */
async function listAction(fn) {
  listError("");
  try {
    await fn();
  } catch (e) {
    listError(e.message);
  }
}

async function loadMembers(l) {
  const ul = $("members");
  if (ul.dataset.of !== l.id) {
    ul.textContent = ""; // not the last list's members while this one's are read
    $("members-title").hidden = true;
  }
  ul.dataset.of = l.id;
  const mine = l.role === "owner";
  try {
    const res = await api("GET", `/lists/${l.id}/members`, { signal: reads.signal });
    const members = await res.json();
    if (l.id !== chosen) return;
    ul.textContent = "";
    for (const m of members.filter((m) => m.username !== owner)) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = m.username;
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = m.role === "owner" ? "owner" : m.role === "editor" ? "can edit" : "can view";
      li.append(name, role);
      if (mine) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn quiet";
        b.textContent = "Remove";
        b.setAttribute("aria-label", `Remove ${m.username}`);
        b.addEventListener("click", () =>
          listAction(async () => {
            await api("DELETE", `/lists/${l.id}/members/${encodeURIComponent(m.username)}`);
            say(`${m.username} no longer shares “${l.name}”.`);
            await loadMembers(l);
            $("share-user").focus(); // the button went with its row
          })
        );
        li.append(b);
      }
      ul.append(li);
    }
    $("members-title").hidden = !ul.children.length;
  } catch (_) {
    /* shown again at the next choice */
  }
}

function newList(ev) {
  ev.preventDefault();
  const name = $("new-list-name").value.trim();
  if (!name) return;
  listAction(async () => {
    const made = await (await api("POST", "/lists", { body: { name } })).json();
    $("new-list-name").value = "";
    await loadLists();
    await chooseList(made.id);
    say(`Made the list “${name}”.`);
  });
}

function renameList(ev) {
  ev.preventDefault();
  const l = listShown();
  const name = $("list-name").value.trim();
  if (!l || !name || name === l.name) return;
  listAction(async () => {
    await api("PATCH", `/lists/${l.id}`, { body: { name } });
    await loadLists();
    say(`Renamed the list to “${name}”.`);
  });
}

function shareList(ev) {
  ev.preventDefault();
  const l = listShown();
  const who = $("share-user").value.trim();
  if (!l || !who) return;
  const role = $("share-role").value;
  listAction(async () => {
    await api("PUT", `/lists/${l.id}/members/${encodeURIComponent(who)}`, { body: { role } });
    $("share-user").value = "";
    say(`Shared “${l.name}” with ${who}.`);
    await loadMembers(l);
  });
}

function deleteList() {
  const l = listShown();
  if (!l || l.inbox || !confirm(`Delete the list “${l.name}” and every todo in it?`)) return;
  listAction(async () => {
    await api("DELETE", `/lists/${l.id}`);
    await backToInbox();
    say(`Deleted the list “${l.name}”.`);
  });
}

function leaveList() {
  const l = sharedList();
  if (!l) return;
  listAction(async () => {
    await api("DELETE", `/lists/${l.id}/members/${encodeURIComponent(owner)}`);
    await backToInbox();
    say(`You left “${l.name}”.`);
  });
}

// ---------------------------------------------------------------- the list

/** Reads the whole list and lays it under what the page learnt while the read was under way:
    a newer version stays, a todo deleted or created meanwhile stays deleted or created. */
async function loadList() {
  if (!token || leaving) return false;
  const since = clock;
  const { signal } = reads;
  const shared = sharedList();
  let path = "/todos?limit=1000&sort=position" + (shared ? "&list=" + shared.id : "");
  const headers = listEtag ? { "If-None-Match": listEtag } : {};
  const fresh = new Map();
  let first = true;
  reading++;
  try {
    while (path) {
      const res = await api("GET", path, { headers: first ? headers : {}, signal }).catch((e) => {
        // The list is no longer shared with this person: back to their Inbox.
        if (shared && e instanceof ApiError && e.status === 404) lostList(shared);
        throw e;
      });
      if (res.status === 304) return false;
      if (first) listEtag = res.headers.get("ETag") || "";
      first = false;
      for (const item of await res.json()) fresh.set(item.uid, item);
      path = nextPage(res);
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

/** The next page's path, from the Link header (it keeps every parameter), or "". */
function nextPage(res) {
  const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("Link") || "");
  return next ? next[1] : "";
}

/** What the server said of a todo, unless the page already knows a newer version. */
function take(item) {
  const had = todos.get(item.uid);
  if (had && had.version > item.version) return;
  todos.set(item.uid, item);
  learnt.set(item.uid, ++clock);
  if (!had || had.version !== item.version) lensSoon(); // it may have joined or left the search
}

function forget(uid) {
  if (todos.delete(uid)) lensSoon();
  learnt.set(uid, ++clock);
}

/** The person's order: by position (compared as text, as the server does), then uid. */
const byPosition = (a, b) => (a.position !== b.position ? (a.position < b.position ? -1 : 1) : a.uid < b.uid ? -1 : 1);

/** What the person sees: the server's list with every change still in the queue laid over it. */
function view() {
  const out = new Map();
  for (const t of [...todos.values()].sort(byPosition)) out.set(t.uid, { ...t });
  for (const op of queue) {
    const mark = (t) => {
      t.pending = true;
      if (op.failed) t.error = op.error;
      t.op = op;
    };
    if (op.kind === "create") {
      const t = { state: "unstarted", priority: "none", ...op.body, uid: op.uid }; // last, as on the server
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
  const list = [...out.values()].filter(shownHere);
  for (const op of queue) if (op.kind === "move") place(list, op);
  return list;
}

/** A move not yet confirmed, as the person made it: the todo just before or after its anchor. */
function place(list, op) {
  const anchor = op.body.before || op.body.after;
  const i = list.findIndex((t) => t.uid === op.uid);
  if (i < 0 || !list.some((t) => t.uid === anchor)) return;
  const [t] = list.splice(i, 1);
  const a = list.findIndex((x) => x.uid === anchor);
  list.splice(op.body.before ? a : a + 1, 0, t);
  t.pending = true;
}

/** What the address asks for, as in `#/active?view=today&q=oat`: the state filter, a date view
    and a search (all three in the address, so a reload or a shared link shows the same list). */
function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query || "");
  const view = params.get("view");
  return {
    filter: path === "active" || path === "completed" ? path : "all",
    view: VIEWS.includes(view) ? view : "",
    q: (params.get("q") || "").trim().slice(0, 200),
  };
}

function hashFor({ filter, view, q }) {
  const params = new URLSearchParams();
  if (view) params.set("view", view);
  if (q) params.set("q", q);
  const query = params.toString();
  return `#/${filter === "all" ? "" : filter}${query ? "?" + query : ""}`;
}

/** What the server is asked for the address's view and search ("" for neither). A search
    without a letter or a digit finds nothing to look for (the server refuses it): none. */
function lensKey() {
  const { view, q } = route();
  const words = /[\p{L}\p{N}]/u.test(q) ? q : "";
  return view || words ? JSON.stringify([view, words]) : "";
}

/** Asks the server which todos the view or search lists, and in which order: views by due date
    in the person's zone, a search in the person's order. The state filter applies on top here. */
async function refreshLens() {
  clearTimeout(lensTimer);
  const at = ++lensSeq; // an answer still on its way for an earlier address is dropped
  const key = lensKey();
  if (!key) {
    $("list").removeAttribute("aria-busy");
    if (lens) {
      lens = null;
      draw();
    }
    return;
  }
  if (!token || leaving || onAccount()) return;
  const [view, q] = JSON.parse(key);
  const same = lens && lens.key === key && !lens.error;
  const params = new URLSearchParams({ limit: "1000", sort: view ? "due" : "position" });
  if (view) params.set("view", view);
  if (view) params.set("tz", ZONE);
  if (q) params.set("q", q);
  let path = "/todos?" + params;
  const ranks = new Map();
  $("list").setAttribute("aria-busy", "true");
  try {
    while (path) {
      const res = await api("GET", path, { signal: reads.signal });
      for (const item of await res.json()) ranks.set(item.uid, ranks.size);
      path = nextPage(res);
    }
    if (at !== lensSeq) return;
    lens = { key, ranks };
  } catch (e) {
    if (e.name === "AbortError" || at !== lensSeq) return;
    if (e instanceof NetworkError) setOffline(true);
    // Offline, the last answer for the same list stands; for another, the list says why it is empty.
    lens = same && e instanceof NetworkError ? lens : { key, ranks: new Map(), error: e.message };
  }
  $("list").removeAttribute("aria-busy");
  draw();
  if (!same) {
    const n = $("list").children.length;
    say(`${n || "No"} ${n === 1 ? "todo matches" : "todos match"}.`);
  }
}

/** The view or search again soon: something changed that may join it or leave it. */
function lensSoon() {
  if (!lensKey()) return;
  clearTimeout(lensTimer);
  lensTimer = setTimeout(refreshLens, 300);
}

function draw() {
  if (!token || dragging) return;
  const items = view();
  const r = route();
  const { filter } = r;
  const shown = items.filter((t) =>
    (filter === "all" ? true : filter === "active" ? t.state !== "completed" : t.state === "completed") &&
    (!lens || lens.ranks.has(t.uid) || t.uid.startsWith("new-")) // what was just added shows, until the server says
  );
  const rank = (t) => (lens.ranks.has(t.uid) ? lens.ranks.get(t.uid) : Infinity);
  if (lens && r.view) shown.sort((a, b) => rank(a) - rank(b) || 0); // by due
  const list = $("list");
  list.classList.toggle("by-due", !!r.view);
  const keep = new Set(shown.map((t) => t.uid));
  // Rows moved in the list lose the focus: it goes back where it was once they are in order.
  const focused = document.activeElement;
  drawing = true;
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
  drawing = false;
  if (focused !== document.activeElement && list.contains(focused)) focused.focus();
  const left = items.filter((t) => t.state !== "completed").length;
  const done = items.length - left;
  $("count").textContent = `${left} ${left === 1 ? "item" : "items"} left`;
  $("foot").hidden = items.length === 0;
  $("tip").hidden = items.length === 0;
  $("toolbar").hidden = left === 0 || !!sharedList();
  $("clear-completed").hidden = done === 0 || !!sharedList();
  const empty = shown.length === 0;
  $("empty").hidden = !empty;
  if (empty) {
    const [title, text] =
      items.length === 0
        ? ["Nothing to do yet", "Add your first todo above and press Enter."]
        : lens && lens.error
        ? ["Could not search", lens.error]
        : lens && r.q
        ? ["No todos match", `Nothing here matches “${r.q}”. Try other words, or clear the search.`]
        : lens && r.view
        ? VIEW_EMPTY[r.view]
        : filter === "active"
        ? ["All done!", "Every todo is completed. Enjoy the quiet."]
        : ["Nothing completed yet", "Completed todos will show up here."];
    $("empty-title").textContent = title;
    $("empty-text").textContent = text;
  }
  // Each link changes one thing and keeps the rest: a filter keeps the view and the search.
  for (const a of document.querySelectorAll("[data-filter], [data-view]")) {
    const [name, value] = a.dataset.filter ? ["filter", a.dataset.filter] : ["view", a.dataset.view];
    a.href = hashFor({ ...r, [name]: value });
    if (r[name] === value) a.setAttribute("aria-current", "page");
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
  q(".handle").addEventListener("pointerdown", (e) => startDrag(e, li));
  li.addEventListener("keydown", (e) => {
    const editing = li.classList.contains("editing");
    if (editing && e.key === "Escape") {
      e.preventDefault();
      endEdit(li, false);
    } else if (editing && e.key === "Enter" && (e.target.classList.contains("edit") || e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      endEdit(li, true);
    } else if (!editing && e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      moveBy(li.dataset.uid, e.key === "ArrowUp" ? -1 : 1);
    }
  });
  // An edit is saved when the focus leaves the todo (not when it moves within its editor).
  li.addEventListener("focusout", (e) => {
    if (!drawing && li.classList.contains("editing") && !li.contains(e.relatedTarget)) endEdit(li, true);
  });
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
  const clash = t.error && t.op && t.op.conflict ? versions(t) : "";
  const note = t.error
    ? "Not saved: " + t.error + clash
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
  const prio = q(".prio");
  prio.textContent = PRIORITY_WORD[t.priority] || "";
  prio.hidden = !prio.textContent;
  prio.dataset.p = t.priority;
  const due = dueOf(t);
  const time = q(".due");
  time.hidden = !due;
  time.classList.toggle("overdue", !!(due && due.overdue));
  if (due) {
    // Overdue in words (and a mark), not in colour alone.
    time.textContent = (due.overdue ? "Overdue: due " : "Due ") + dueWords(due);
    time.dateTime = due.at ? due.at.toISOString() : due.day;
    time.title = due.at && t.due.tz !== ZONE ? `${t.due.at.replace("T", " ")} in ${t.due.tz}` : "";
  }
  q(".notes").hidden = !t.notes;
  q(".notes-text").textContent = t.notes || "";
  q(".retry").hidden = q(".discard").hidden = !t.error;
  q(".retry").textContent = clash ? "Keep mine" : "Retry";
  q(".discard").textContent = clash ? "Keep theirs" : "Discard";
  if (t.error) {
    q(".retry").setAttribute("aria-label", clash ? `Keep mine: your version of ${name}` : `Retry saving ${name}`);
    q(".discard").setAttribute("aria-label", clash ? `Keep theirs: the other version of ${name}` : `Discard the unsaved change to ${name}`);
  }
}

/** A change that met another one's, in words: each field it changes, as yours and as theirs
    (the server's, as last read). */
function versions(t) {
  const theirs = todos.get(t.uid);
  if (!theirs) return "";
  const word = (k, v) =>
    k === "description"
      ? `“${v}”`
      : k === "state"
      ? STATE_WORD[v]
      : k === "priority"
      ? PRIORITY_WORD[v] || "no priority"
      : k === "due"
      ? v
        ? "due " + dueWords(dueOf({ due: v }))
        : "no date"
      : k === "notes"
      ? v
        ? `notes “${v}”`
        : "no notes"
      : "";
  const keys = Object.keys(t.op.body).filter((k) => word(k, t.op.body[k]));
  const side = (o) => keys.map((k) => word(k, o[k])).join(", ");
  return keys.length ? ` Yours: ${side(t.op.body)}. Theirs: ${side(theirs)}.` : "";
}

function current(uid) {
  return view().find((t) => t.uid === uid);
}

// ---------------------------------------------------------------- due dates, in the person's zone

const pad = (n) => String(n).padStart(2, "0");
/** A Date's day here, as YYYY-MM-DD. */
const isoDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** The day `n` days after today here (a day, not 24 hours: clocks change). */
function dayFrom(n) {
  const d = new Date();
  return isoDay(new Date(d.getFullYear(), d.getMonth(), d.getDate() + n));
}

/** A todo's due as this page shows it: its day here, the instant of a timed one (the server's
    `utc`; a due not yet sent is in this zone, so its wall clock is read here) and whether it is
    overdue: not completed and due before today, or before now. */
function dueOf(t) {
  const due = t.due;
  if (!due) return null;
  const at = typeof due === "object" ? new Date(due.utc || due.at) : null;
  const day = at ? isoDay(at) : due;
  const overdue = t.state !== "completed" && (at ? at < Date.now() : day < dayFrom(0));
  return { day, at, time: at ? `${pad(at.getHours())}:${pad(at.getMinutes())}` : "", overdue };
}

/** "today", "tomorrow", "Thu, Dec 24"… and "at 6:30 PM" for a timed due, in the person's words. */
function dueWords({ day, at }) {
  let words = ["yesterday", "today", "tomorrow"][[-1, 0, 1].map(dayFrom).indexOf(day)];
  if (!words) {
    const [y, m, d] = day.split("-").map(Number);
    const year = y === new Date().getFullYear() ? undefined : "numeric";
    words = new Date(y, m - 1, d).toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric", year });
  }
  return at ? `${words} at ${at.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" })}` : words;
}

/** The due date, time and priority controls, for the new todo's form or a todo's editor. */
function planBox() {
  const box = $("plan-tpl").content.firstElementChild.cloneNode(true);
  const date = box.querySelector(".due-date");
  for (const b of box.querySelectorAll("[data-days]")) {
    b.addEventListener("click", () => {
      date.value = b.dataset.days ? dayFrom(+b.dataset.days) : "";
      if (!date.value) box.querySelector(".due-time").value = "";
      say(date.value ? `Due ${dueWords({ day: date.value })}.` : "No due date.");
    });
  }
  return box;
}

/** The due the controls say: a day, or a time on a day (today when only a time is given) in
    this zone; null for none. */
function readDue(box) {
  const date = box.querySelector(".due-date").value;
  const time = box.querySelector(".due-time").value;
  if (!date && !time) return null;
  const day = date || dayFrom(0);
  return time ? { at: `${day}T${time.slice(0, 5)}`, tz: ZONE } : day;
}

/** Fills the controls from a todo (a timed due from another zone in this zone's clock) and
    remembers what they said, so that a due left alone is not sent again in this zone. */
function setPlan(box, t) {
  const due = t ? dueOf(t) : null;
  box.querySelector(".due-date").value = due ? due.day : "";
  box.querySelector(".due-time").value = due ? due.time : "";
  box.querySelector(".priority").value = (t && t.priority) || "none";
  box.dataset.was = dueKey(box);
}

const dueKey = (box) => box.querySelector(".due-date").value + " " + box.querySelector(".due-time").value;

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
  const plan = $("new-form").querySelector(".plan");
  const body = { description };
  const into = listShown();
  if (into && !into.inbox) body.list = into.id;
  const due = readDue(plan) || (route().view === "today" ? dayFrom(0) : null); // added to Today: due today
  if (due) body.due = due;
  if (plan.querySelector(".priority").value !== "none") body.priority = plan.querySelector(".priority").value;
  setPlan(plan, null); // each new todo starts without a date or priority
  // The key makes a create that is sent again (its answer was lost) count once.
  const key = crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2);
  enqueue({ kind: "create", uid: "new-" + Date.now().toString(36) + "-" + seq++, key, body });
  const when = due ? dueOf({ due }) : null;
  say(`Added “${description}”${when ? ", due " + dueWords(when) : ""}.`);
  if ($("new-form").contains(document.activeElement)) input.focus(); // ready for the next one
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
    // Never sent: fold the edit into it (once sent, its key stands for that body, so the edit
    // follows as a change of its own). A new todo leaves out what it has not, rather than null.
    for (const [k, v] of Object.entries(body)) {
      if (v === null) delete create.body[k];
      else create.body[k] = v;
    }
    save();
    draw();
    return;
  }
  // The version it is made on: sent as If-Match, it never overwrites a change it did not see.
  const known = todos.get(uid);
  enqueue({ kind: "patch", uid, body, base: known ? known.version : undefined });
}

/** The todo's editor: its text in place, and below it the due date, priority and notes. */
function beginEdit(li) {
  const t = current(li.dataset.uid);
  if (li.classList.contains("editing") || !t) return;
  const input = li.querySelector(".edit");
  const text = li.querySelector(".text");
  li.classList.add("editing");
  input.value = t.description;
  input.hidden = false;
  text.hidden = true;
  const editor = $("editor-tpl").content.firstElementChild.cloneNode(true);
  const plan = planBox();
  setPlan(plan, t);
  editor.prepend(plan);
  const e = (s) => editor.querySelector(s);
  e(".notes-edit").value = t.notes || "";
  e(".save").addEventListener("click", () => endEdit(li, true));
  e(".cancel").addEventListener("click", () => endEdit(li, false));
  e(".up").addEventListener("click", () => moveBy(li.dataset.uid, -1));
  e(".down").addEventListener("click", () => moveBy(li.dataset.uid, 1));
  for (const b of editor.querySelectorAll(".editor-acts button")) b.setAttribute("aria-label", `${b.textContent} “${t.description}”`);
  input.after(editor);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

function endEdit(li, keep) {
  if (!li.classList.contains("editing")) return;
  const input = li.querySelector(".edit");
  const editor = li.querySelector(".editor");
  const uid = li.dataset.uid;
  const t = current(uid);
  const hadFocus = li.contains(document.activeElement);
  li.classList.remove("editing"); // first: the focus leaving the editor as it goes is no blur
  const body = keep && t ? edits(t, input.value.trim(), editor) : {};
  input.hidden = true;
  li.querySelector(".text").hidden = false;
  editor.remove();
  if (body.description === "") return remove(uid);
  if (Object.keys(body).length) {
    change(uid, body);
    say(body.description ? `Changed to “${body.description}”.` : `Saved “${t.description}”.`);
  } else draw();
  if (hadFocus && li.isConnected) li.querySelector(".edit-btn").focus();
}

/** What the editor changed, and only that (a field left alone is not sent). */
function edits(t, text, editor) {
  const body = {};
  const plan = editor.querySelector(".plan");
  if (text !== t.description) body.description = text;
  if (dueKey(plan) !== plan.dataset.was) body.due = readDue(plan);
  const priority = plan.querySelector(".priority").value;
  if (priority !== (t.priority || "none")) body.priority = priority;
  const notes = editor.querySelector(".notes-edit").value.trim() || null;
  if (notes !== (t.notes || null)) body.notes = notes;
  return body;
}

/** Alt+↑ / Alt+↓ and the editor's Move buttons: one place up or down among the todos shown. */
function moveBy(uid, step) {
  const t = current(uid);
  if (!t) return;
  if (route().view) return say("Todos listed by date keep that order; choose Any date to reorder them.");
  const order = [...$("list").children].map((li) => li.dataset.uid);
  const i = order.indexOf(uid);
  const j = i + step;
  if (i < 0 || j < 0 || j >= order.length) return say(`“${t.description}” is already ${step < 0 ? "first" : "last"}.`);
  enqueue({ kind: "move", uid, body: step < 0 ? { before: order[j] } : { after: order[j] } });
  say(`Moved “${t.description}” ${step < 0 ? "up" : "down"}: ${j + 1} of ${order.length}.`);
}

/** Dragging by the handle (mouse, pen or finger): the row follows the pointer among the others,
    and where it is let go becomes its place, just after the row above it (or before the one below).
    The list holds the pointer, not the handle: a row moved in the list would lose it. */
function startDrag(e, li) {
  if (e.button !== 0 || dragging || route().view || li.classList.contains("editing")) return;
  e.preventDefault();
  const list = $("list");
  const [above, below] = [li.previousElementSibling, li.nextElementSibling];
  list.setPointerCapture(e.pointerId); // let go outside the window, it still ends here
  dragging = li;
  li.classList.add("dragging");
  const follow = (ev) => {
    if (ev.pointerId !== e.pointerId) return;
    if (ev.clientY < 48 || ev.clientY > innerHeight - 48) scrollBy(0, ev.clientY < 48 ? -24 : 24); // to a place off screen
    const next = [...list.children].find((o) => o !== li && ev.clientY < o.getBoundingClientRect().top + o.offsetHeight / 2) || null;
    if (next !== li.nextElementSibling) list.insertBefore(li, next);
  };
  const end = (ev) => {
    if (ev.pointerId !== e.pointerId) return;
    document.removeEventListener("pointermove", follow);
    document.removeEventListener("pointerup", end);
    document.removeEventListener("pointercancel", end);
    li.classList.remove("dragging");
    dragging = null;
    const [prev, next] = [li.previousElementSibling, li.nextElementSibling];
    const t = current(li.dataset.uid);
    if (ev.type !== "pointerup" || !t || (prev === above && next === below)) return draw(); // back in place
    enqueue({ kind: "move", uid: t.uid, body: prev ? { after: prev.dataset.uid } : { before: next.dataset.uid } });
    const order = [...list.children];
    say(`Moved “${t.description}”: ${order.indexOf(li) + 1} of ${order.length}.`);
  };
  document.addEventListener("pointermove", follow);
  document.addEventListener("pointerup", end);
  document.addEventListener("pointercancel", end);
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
  queue = queue.filter((op) => op.uid !== uid && anchorOf(op) !== uid); // moves next to it too
  save();
  draw();
}

/** Send waiting changes in order. A refused one is marked (with Retry) and does not hold up the rest. */
async function flush() {
  if (flushing || !token || leaving) return;
  flushing = true;
  try {
    for (;;) {
      let ops = batchable();
      let answers = null;
      if (ops.length > 1) {
        answers = await sendBatch(ops);
        if (answers === STOP) break;
      }
      if (!answers) {
        const op = queue.find((o) => !o.failed && !waitsFor(o));
        if (!op) break;
        ops = [op];
      }
      let going = true;
      for (const [i, op] of ops.entries()) {
        going = await sendOne(op, answers && answers[i]);
        if (!going) break;
      }
      if (!going) break;
    }
  } finally {
    flushing = false;
  }
}

const STOP = "stop";
let batchless = false; // the server has no POST /batch (an older one): one request each

/** Queued creates, changes and deletes that can go out together in one POST /batch: those
    ready to send, in the queue's order, one per todo (a second change of a todo needs the
    version the first leaves), up to 100, up to the first move or bulk change. */
function batchable() {
  const run = [];
  const uids = new Set();
  if (batchless) return run;
  for (const o of queue) {
    if (o.failed || waitsFor(o)) continue;
    if (!["create", "patch", "delete"].includes(o.kind) || uids.has(o.uid)) break;
    uids.add(o.uid);
    run.push(o);
    if (run.length === 100) break;
  }
  return run;
}

/** `ops` in one round trip: each operation's answer, or null to send them one by one, or
    STOP when the network is gone or the session ended. */
async function sendBatch(ops) {
  for (const o of ops) {
    o.sending = true;
    o.tried = true;
  }
  try {
    const operations = ops.map((op) => {
      if (op.kind === "create") return { op: "create", todo: op.body, key: op.key };
      if (op.kind === "delete") return { op: "delete", uid: op.uid };
      return { op: "update", uid: op.uid, changes: op.body, if_match: ifMatch(op) };
    });
    const res = await api("POST", "/batch", { body: { operations } });
    return (await res.json()).results;
  } catch (e) {
    for (const o of ops) o.sending = false;
    if (e instanceof NetworkError) {
      setOffline(true);
      return STOP;
    }
    if (!token) return STOP;
    if (e instanceof ApiError && [404, 405].includes(e.status)) batchless = true;
    return null;
  }
}

/** One operation's answer out of a batch, as its own request would have given it. */
function answered(r) {
  if (r.status >= 400) {
    const said = sentence((r.body && r.body.message) || "");
    throw new ApiError(r.status, said || `The server answered ${r.status}.`, new Headers());
  }
  return { json: async () => r.body };
}

/** Sends one queued change (or takes its answer out of a batch) and settles it: gone from the
    queue, or marked failed with the server's words. False when sending should stop. */
async function sendOne(op, pre) {
  op.sending = true;
  op.tried = true;
  try {
    await send(op, pre);
    queue.splice(queue.indexOf(op), 1);
    setOffline(false);
  } catch (e) {
    op.sending = false;
    if (e instanceof NetworkError) {
      setOffline(true);
      return false;
    }
    if (!token) return false;
    if (op.kind === "move") {
      // A refused move is undone at once: the todo goes back to its place, and why is said.
      queue.splice(queue.indexOf(op), 1);
      const t = todos.get(op.uid);
      const why = e instanceof ApiError && e.status === 412 ? "it was changed elsewhere in the meantime." : e.message;
      problem(`Could not move “${t ? t.description : "that todo"}”: ${why} It is back in its place.`);
      await loadList().catch(() => {});
      return true;
    }
    op.failed = true;
    op.error = e.message;
    if (e instanceof ApiError && e.status === 412 && op.kind === "patch") {
      // Both versions are shown on the row: the person keeps theirs or the other.
      op.conflict = true;
      op.error = "it was changed elsewhere in the meantime.";
      await loadList().catch(() => {});
    } else if (e instanceof ApiError && e.status === 412) {
      op.error = "It was changed elsewhere in the meantime; the list now shows the latest. Retry to apply your change anyway.";
      await loadList().catch(() => {});
    }
    if (op.uid) say(`Not saved: ${op.error}`);
  } finally {
    save();
    draw();
  }
  return true;
}

/** A queued change's If-Match: the version it was made on (the one the page knew, for a queue
    kept by an older page), none once the person chose to keep theirs. */
function ifMatch(op) {
  const known = todos.get(op.uid);
  const base = op.base || (known && known.version);
  return base && !op.force ? `"${base}"` : undefined;
}

/** `op` made todo `uid` its `version`: the changes to it queued after it were made on top of it. */
function rebase(op, uid, version) {
  for (const o of queue.slice(queue.indexOf(op) + 1)) if (o.uid === uid && o.kind === "patch") o.base = version;
}

function waitsFor(op) {
  const anchor = anchorOf(op);
  return (op.uid && op.uid.startsWith("new-") && op.kind !== "create") || (anchor && anchor.startsWith("new-"));
}

const anchorOf = (op) => op.kind === "move" && (op.body.before || op.body.after);

async function send(op, pre) {
  if (op.kind === "create") {
    const headers = op.key ? { "Idempotency-Key": op.key } : {};
    const item = await (pre ? answered(pre) : await api("POST", "/todos", { body: op.body, headers })).json();
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
    if (lens) lens.ranks.set(item.uid, Infinity); // shown still, until the view or search is read again
    for (const o of queue) {
      if (o.uid === op.uid) o.uid = item.uid;
      if (anchorOf(o) === op.uid) o.body[o.body.before ? "before" : "after"] = item.uid;
    }
    rebase(op, item.uid, item.version);
  } else if (op.kind === "move") {
    const known = todos.get(op.uid);
    const headers = known ? { "If-Match": `"${known.version}"` } : {};
    const path = `/todos/${encodeURIComponent(op.uid)}/move`;
    const item = await (await api("POST", path, { body: op.body, headers })).json();
    take(item);
    rebase(op, item.uid, item.version);
    // Where the keys around the gap were respaced, its neighbours changed too: read them.
    const order = [...todos.values()].sort(byPosition).map((t) => t.uid);
    const at = order.indexOf(anchorOf(op)) + (op.body.before ? -1 : 1);
    if (order[at] !== op.uid) loadList().catch(() => {});
  } else if (op.kind === "patch") {
    const tag = ifMatch(op);
    const headers = tag ? { "If-Match": tag } : {};
    try {
      const path = "/todos/" + encodeURIComponent(op.uid);
      const item = await (pre ? answered(pre) : await api("PATCH", path, { body: op.body, headers })).json();
      take(item);
      rebase(op, item.uid, item.version);
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
      if (pre) answered(pre);
      else await api("DELETE", "/todos/" + encodeURIComponent(op.uid));
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    forget(op.uid);
  } else if (op.kind === "complete-all") {
    const open = [...todos.values()].filter((t) => t.state !== "completed").map((t) => [t.uid, t.version]);
    await api("POST", "/todos/complete-all");
    await loadList();
    // One version on is this change: what was queued after it on top of it is no conflict.
    for (const [uid, was] of open) {
      const t = todos.get(uid);
      if (t && t.version === was + 1) rebase(op, uid, t.version);
    }
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
  op.conflict = false;
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
let syncToken = ""; // while polling: GET /sync's token, for what changed since

function stopLive() {
  if (live) live.abort();
  live = null;
  clearTimeout(liveTimer);
  clearInterval(pollTimer);
  polling = false;
  syncToken = "";
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
    loadLists()
      .then(() => loadList())
      .catch(() => {});
    return;
  } else return;
  draw();
}

function startPolling() {
  polling = true;
  clearInterval(pollTimer);
  const poll = () => {
    if (token && !document.hidden) pollChanges().then(() => setOffline(false), (e) => e instanceof NetworkError && setOffline(true));
  };
  poll(); // the first at once, then every 3 s
  pollTimer = setInterval(poll, 3000);
}

/** Where no stream can stay open (Lambda): what changed since the last poll, from GET /sync
    (a few bytes while nothing did), laid over what the page holds. The first poll, or one
    after a token the server no longer takes (410), reads everything once. */
async function pollChanges() {
  const path = syncToken ? "/sync?since=" + encodeURIComponent(syncToken) : "/sync";
  let changes;
  try {
    changes = await (await api("GET", path, { signal: reads.signal })).json();
  } catch (e) {
    if (e instanceof ApiError && [400, 410].includes(e.status)) syncToken = "";
    throw e;
  }
  syncToken = changes.token;
  if (changes.full || changes.lists.length || changes.deleted_lists.length) await loadLists();
  for (const t of changes.todos) take(t);
  for (const uid of changes.deleted_todos) forget(uid);
  draw();
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
  if (account) closeDrawer(); // (Back, with the drawer open)
  $("account").hidden = !account;
  $("todos").hidden = account;
  if (account && !was) openAccount();
  else if (!account) {
    const box = $("search");
    if (searching) return applySearch(); // a link followed as the person typed: the words stand
    if (document.activeElement !== box) box.value = route().q; // back, forward, a link, a reload
    draw();
    if ((lens ? lens.key : "") !== lensKey()) refreshLens();
    if (was) $("new-todo").focus();
  }
}

/** The search box, a moment after the person stops typing (or at Enter): into the address
    (replacing it, so Back does not step through every letter), then to the server. */
let searchTimer = 0;
let searching = false; // typed, not yet in the address
function searchSoon(e) {
  searching = true;
  clearTimeout(searchTimer);
  searchTimer = setTimeout(applySearch, e.key === "Enter" ? 0 : 300);
}

function applySearch() {
  clearTimeout(searchTimer);
  searching = false;
  const q = $("search").value.trim();
  if (q !== route().q) history.replaceState(null, "", hashFor({ ...route(), q }));
  showView();
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
$("new-form").append(planBox());
$("search").addEventListener("input", searchSoon);
$("search").addEventListener("keydown", (e) => e.key === "Enter" && searchSoon(e));
$("complete-all").addEventListener("click", completeAll);
$("new-list").addEventListener("submit", newList);
$("rename-list").addEventListener("submit", renameList);
$("share-form").addEventListener("submit", shareList);
$("delete-list").addEventListener("click", deleteList);
$("leave-list").addEventListener("click", leaveList);
$("lists-toggle").addEventListener("click", openDrawer);
$("lists-close").addEventListener("click", closeDrawer);
$("scrim").addEventListener("click", closeDrawer);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && drawerOpen()) {
    e.preventDefault();
    closeDrawer();
  }
});
WIDE.addEventListener("change", () => WIDE.matches && closeDrawer()); // a phone turned sideways
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
  if (lens && lens.error) refreshLens();
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
// Time moves on though nothing changed: a due passes (overdue), a day ends (today, tomorrow).
setInterval(() => {
  if (!token || onAccount()) return;
  draw();
  if (route().view) refreshLens();
}, 60000);
if (channel) channel.onmessage = (m) => m.data === "logout" && token && endSession("You logged out in another tab.");

start();
