// The one place that talks to the gateway: relative URLs (same origin), the key as a bearer header.
const KEY_SLOT = "routeway.console.key";

export function storedKey() {
  return sessionStorage.getItem(KEY_SLOT);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_SLOT, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_SLOT);
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// GET (or POST with a JSON body) a gateway route such as "v1/models"; resolves to the parsed JSON,
// rejects with an ApiError carrying the gateway's error code and message.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  const key = storedKey();
  if (key) {
    headers.authorization = `Bearer ${key}`;
  }
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "network_error", `The gateway did not answer (${error.message}).`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && typeof data.error === "object" && data.error !== null ? data.error : {};
    const message = typeof error.message === "string" ? error.message : `The gateway answered HTTP ${response.status}.`;
    throw new ApiError(response.status, error.code || `http_${response.status}`, message, error);
  }
  if (data === null) {
    throw new ApiError(response.status, "invalid_response", "The gateway's answer was not JSON.");
  }
  return data;
}
