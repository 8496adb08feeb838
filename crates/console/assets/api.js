// The API client of the console: the token kept for this browser tab, requests with it, and
// failures turned into one error type that carries the contract's message and tracking id.

const SESSION_KEY = "rolemine.console";
const MANAGE = "iai:access-modeling:manage";
const BASE = "/beta";

/** A failed request: the API's message, its tracking id and the HTTP status. */
export class ApiFailure extends Error {
  constructor(status, message, trackingId, detailCode) {
    super(message);
    this.status = status;
    this.trackingId = trackingId || null;
    this.detailCode = detailCode || null;
  }
}

/** The signed-in client ({token, scopes, clientId, expires}) or null. */
export function currentSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    if (saved && saved.expires > Date.now()) return saved;
  } catch {
    // A value another page left there: treat as signed out.
  }
  return null;
}

/** Whether the signed-in client may change things (the manage scope). */
export function canManage() {
  const session = currentSession();
  return Boolean(session && session.scopes.includes(MANAGE));
}

/** Exchanges a client's id and secret for a token, kept in this tab's session storage only. */
export async function signIn(clientId, clientSecret) {
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: clientId,
    client_secret: clientSecret,
  });
  const response = await fetch("/oauth/token", { method: "POST", body });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failure(response, data);
  const session = {
    token: data.access_token,
    scopes: String(data.scope || "").split(" ").filter(Boolean),
    clientId,
    expires: Date.now() + Number(data.expires_in || 0) * 1000,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

/** Forgets the token. */
export function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
}

function failure(response, data) {
  const tracking = response.headers.get("x-tracking-id") || (data && data.trackingId);
  if (data && Array.isArray(data.messages) && data.messages.length > 0) {
    const text = data.messages.map((m) => m.text).join("; ");
    return new ApiFailure(response.status, text, tracking, data.detailCode);
  }
  if (data && data.error_description) {
    return new ApiFailure(response.status, data.error_description, tracking, data.error);
  }
  if (data && data.error) {
    return new ApiFailure(response.status, String(data.error), tracking, null);
  }
  return new ApiFailure(response.status, `HTTP ${response.status} ${response.statusText}`, tracking, null);
}

/** The query string of `params`, leaving out null, undefined and empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function authorised(headers) {
  const session = currentSession();
  if (!session) throw new ApiFailure(401, "you are signed out; sign in again", null, null);
  return { ...headers, Authorization: `Bearer ${session.token}` };
}

async function send(method, path, { params, json, patch, body, contentType } = {}) {
  const headers = authorised({ Accept: "application/json" });
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (patch !== undefined) {
    headers["Content-Type"] = "application/json-patch+json";
    payload = JSON.stringify(patch);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  const url = (path.startsWith("/rolemine/") ? path : BASE + path) + query(params);
  const response = await fetch(url, { method, headers, body: payload });
  if (response.status === 401) {
    signOut();
    window.dispatchEvent(new CustomEvent("rolemine:signed-out"));
  }
  return response;
}

/** A JSON request; resolves to the body (or null for an empty one), rejects with ApiFailure. */
export async function call(method, path, options) {
  const response = await send(method, path, options);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw failure(response, data);
  return data;
}

/** A page of a collection: {items, total} with `count=true`. */
export async function page(path, params) {
  const response = await send("GET", path, { params: { count: "true", ...params } });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failure(response, data);
  const total = Number(response.headers.get("x-total-count"));
  return { items: data || [], total: Number.isFinite(total) ? total : (data || []).length };
}

/** A binary download as a Blob. */
export async function download(path) {
  const response = await send("GET", path, {});
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw failure(response, data);
  }
  return response.blob();
}

/**
 * Uploads a file with progress (fetch cannot report upload progress, XMLHttpRequest can).
 * Resolves to the JSON body; rejects with ApiFailure.
 */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    let headers;
    try {
      headers = authorised({});
    } catch (err) {
      reject(err);
      return;
    }
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Authorization", headers.Authorization);
    request.setRequestHeader("Content-Type", "application/zip");
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    request.onerror = () => reject(new ApiFailure(0, "the upload was interrupted (network error)", null, null));
    request.onload = () => {
      let data = null;
      try {
        data = JSON.parse(request.responseText);
      } catch {
        data = null;
      }
      if (request.status >= 200 && request.status < 300) {
        resolve(data);
        return;
      }
      const fake = {
        status: request.status,
        statusText: request.statusText,
        headers: { get: (name) => request.getResponseHeader(name) },
      };
      reject(failure(fake, data));
    };
    request.send(file);
  });
}
