// Shoal's web UI: the shell (header, navigation, sign-in) and the client-side router. Each page is a module with
// mount(root, {params, query, retitle}) → {update(kind)?, destroy()?}; update runs whenever the event stream changes
// `state`, and retitle() tells the shell that the page's h1 (the document title) changed.

import { state, subscribe, followEvents, hasToken, handleUnauthorized, login, ApiError } from './api.js';
import { h, setText, clearErrors, showError, refreshRelativeTimes, navigate } from './ui.js';
import * as overview from './overview.js';
import * as files from './files.js';
import * as upload from './upload.js';
import * as transfers from './transfers.js';
import * as folder from './folder.js';
import * as settings from './settings.js';

const ROUTES = [
  { pattern: /^\/$/, mount: overview.mount, nav: '/' },
  { pattern: /^\/files$/, mount: files.mount, nav: '/files' },
  { pattern: /^\/f\/([^/]+)$/, mount: files.mountFile, nav: '/files' },
  { pattern: /^\/upload$/, mount: upload.mount, nav: '/upload' },
  { pattern: /^\/transfers$/, mount: transfers.mount, nav: '/transfers' },
  { pattern: /^\/folder$/, mount: folder.mount, nav: '/folder' },
  { pattern: /^\/settings$/, mount: settings.mount, nav: '/settings' },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const nodeName = document.getElementById('node-name');
const connection = document.getElementById('connection');
let page = null;
let following = false;

function findRoute(pathname) {
  for (const route of ROUTES) {
    const match = pathname.match(route.pattern);
    if (!match) continue;
    try {
      return { route, params: match.slice(1).map(decodeURIComponent) };
    } catch {
      return null; // a mangled %-escape: no page of ours
    }
  }
  return null;
}

function render({ focus }) {
  page?.destroy?.();
  page = null;
  clearErrors();
  const root = h('div', { class: 'page' });
  main.replaceChildren(root);
  const found = findRoute(location.pathname);
  for (const link of nav.querySelectorAll('a')) {
    if (found && link.getAttribute('href') === found.route.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (found) page = found.route.mount(root, { params: found.params, query: new URLSearchParams(location.search), retitle: updateTitle });
  else root.append(h('h1', { tabindex: '-1', text: 'Page not found' }), h('p', {}, 'Nothing lives at this address. ', h('a', { href: '/', text: 'Go to the overview' })));
  updateTitle();
  window.scrollTo(0, 0);
  // After a click in the app, move to the new heading so screen readers announce the page.
  if (focus) main.querySelector('h1')?.focus();
}

function updateTitle() {
  const heading = main.querySelector('h1')?.textContent ?? 'Shoal';
  const node = state.status?.name;
  document.title = node ? `${heading} · ${node} · Shoal` : `${heading} · Shoal`;
}

// Real links everywhere (middle-click opens a tab); a plain click stays in the app.
document.addEventListener('click', event => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !findRoute(url.pathname) || (url.hash && url.pathname === location.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

// Back and forward, and navigate() from the pages.
window.addEventListener('popstate', () => {
  if (hasToken()) render({ focus: true });
});

subscribe(kind => {
  if (kind === 'live') {
    setText(connection.querySelector('.connection-text'), state.live ? 'Live' : 'Reconnecting…');
    connection.classList.toggle('live', state.live);
  }
  if (kind === 'status') {
    setText(nodeName, state.status.name);
    updateTitle();
  }
  page?.update?.(kind);
});

function start() {
  nav.hidden = false;
  connection.hidden = false;
  render({ focus: false });
  if (!following) {
    following = true;
    followEvents().finally(() => { following = false; });
  }
}

function showLogin() {
  page?.destroy?.();
  page = null;
  clearErrors();
  nav.hidden = true;
  connection.hidden = true;
  const password = h('input', { id: 'password', class: 'input', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'button primary', text: 'Sign in' });
  const form = h('form', { class: 'card form login', 'aria-labelledby': 'login-heading' },
    h('h1', { id: 'login-heading', tabindex: '-1', text: 'Sign in' }),
    h('p', { class: 'muted', text: 'This node’s web UI is protected by a password.' }),
    h('div', { class: 'field' }, h('label', { for: 'password', text: 'Password' }), password),
    h('div', { class: 'form-actions' }, button));
  form.addEventListener('submit', async event => {
    event.preventDefault();
    button.disabled = true;
    try {
      await login(password.value);
      start();
    } catch (error) {
      clearErrors();
      showError(error instanceof ApiError && error.status === 401 ? 'Wrong password.' : error);
      password.select();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(h('div', { class: 'page' }, form));
  document.title = 'Sign in · Shoal';
  password.focus();
}

handleUnauthorized(showLogin);
setInterval(refreshRelativeTimes, 1000); // only re-words "3 min ago"; the data itself is pushed
if (hasToken()) start();
else showLogin();
