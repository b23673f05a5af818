// Talking to the node: the token, JSON calls, uploads, and the event stream that keeps `state` current.

const TOKEN_KEY = 'shoal-token';
const RELOADED_KEY = 'shoal-reloaded-at';

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};

/** What to do when the node no longer accepts our token (the app shows the sign-in form). */
export function handleUnauthorized(callback) {
  onUnauthorized = callback;
}

function pageToken() {
  return document.querySelector('meta[name="shoal-token"]')?.content || '';
}

/** The node hands its token to a page on its own computer; elsewhere the token comes from signing in. */
function token() {
  return sessionStorage.getItem(TOKEN_KEY) || pageToken();
}

export function hasToken() {
  return token() !== '';
}

function unauthorized() {
  sessionStorage.removeItem(TOKEN_KEY);
  // A node restarted since this page loaded has a new token: one reload fetches it. The time check stops a loop.
  const last = Number(sessionStorage.getItem(RELOADED_KEY) || 0);
  if (pageToken() && Date.now() - last > 30_000) {
    sessionStorage.setItem(RELOADED_KEY, String(Date.now()));
    location.reload();
    return;
  }
  onUnauthorized();
}

export async function login(password) {
  const result = await api('/api/login', { method: 'POST', body: { password } });
  sessionStorage.setItem(TOKEN_KEY, result.token);
}

/** One API call: resolves to the parsed JSON (null for 204), rejects with the node's own error text. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError('The node did not answer. Is it still running?', 0);
  }
  if (response.status === 401 && path !== '/api/login') {
    unauthorized();
    throw new ApiError('Signed out: sign in again.', 401);
  }
  if (!response.ok) throw new ApiError(await errorText(response), response.status);
  if (response.status === 204 || !(response.headers.get('Content-Type') || '').includes('json')) return null;
  return response.json();
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') return body.error;
  } catch {
    // Not JSON (a proxy's page, an empty body): the status line is all there is.
  }
  return `The node answered ${response.status} ${response.statusText}`.trim();
}

/**
 * Sends one file as the raw request body. XMLHttpRequest, not fetch, because only it reports upload progress;
 * the browser streams the File from disk, so its size does not matter.
 */
export function uploadFile(file, { mode, replicas }, { onProgress, onSent }) {
  const xhr = new XMLHttpRequest();
  let query = `name=${encodeURIComponent(file.name)}&mode=${mode}`;
  if (mode === 'put') query += `&replicas=${replicas}`;
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', `/api/upload?${query}`);
    xhr.setRequestHeader('Authorization', `Bearer ${token()}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = e => onProgress(e.loaded);
    xhr.upload.onload = () => onSent();
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
      if (xhr.status === 401) unauthorized();
      reject(new ApiError(xhr.response?.error || `The node answered ${xhr.status}`, xhr.status));
    };
    xhr.onerror = () => reject(new ApiError(`Upload of ${file.name} was cut off. Is the node still running?`, 0));
    xhr.onabort = () => reject(new DOMException('Upload aborted', 'AbortError'));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

// ---- live state -------------------------------------------------------------------------------------------

/** The latest snapshot of each kind the event stream sends; null until the first one arrives. */
export const state = { live: false, status: null, peers: null, transfers: null, puts: null, folder: null, filesVersion: 0 };

const listeners = new Set();

/** Calls listener(kind) after each change; returns the unsubscribe function. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function setState(kind, value) {
  state[kind] = value;
  for (const listener of listeners) listener(kind);
}

const EVENT_KINDS = new Set(['status', 'peers', 'transfers', 'puts', 'folder']);

/** Keeps `state` current from GET /api/events for as long as the page lives, reconnecting with backoff. */
export async function followEvents() {
  let attempt = 0;
  for (;;) {
    try {
      // EventSource cannot send the Authorization header, hence fetch and a parser of our own.
      const response = await fetch('/api/events', {
        headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
        cache: 'no-store',
      });
      if (response.status === 401) {
        unauthorized();
        return;
      }
      if (response.ok && response.body) {
        setState('live', true);
        attempt = 0;
        await readEvents(response.body, onEvent);
      }
    } catch (error) {
      console.warn('event stream:', error);
    }
    setState('live', false);
    await new Promise(resolve => setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt++)));
  }
}

function onEvent(type, data) {
  let value;
  try {
    value = JSON.parse(data);
  } catch {
    console.warn(`event ${type}: not JSON`, data);
    return;
  }
  if (type === 'files') setState('filesVersion', value.version);
  else if (EVENT_KINDS.has(type)) setState(type, value);
}

/** The text/event-stream format: "field: value" lines, a blank line ends a message. */
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let type = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) dispatch(type || 'message', data.join('\n'));
        type = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue; // a comment: the server's keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') type = text;
      else if (field === 'data') data.push(text);
    }
  }
}
