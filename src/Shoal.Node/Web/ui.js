// DOM building, formatting and small shared widgets. Everything that reaches the page goes through
// createElement/textContent: data from the network (file and node names) is never parsed as HTML.

/** h('a', {href: '/x', class: 'c', onclick: fn}, 'text', child) → element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key in el && typeof value !== 'string') el[key] = value; // properties: value, checked, max, hidden…
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat().filter(c => c !== null && c !== undefined && c !== false));
  return el;
}

/** Sets text only when it changed, so live updates do not disturb a selection or a screen reader. */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

const SVG = 'http://www.w3.org/2000/svg';

/** A decorative 24×24 stroke icon from one path. */
export function icon(d, cls = 'icon') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

export const ICONS = {
  upload: 'M12 16V4m0 0-5 5m5-5 5 5M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3',
  empty: 'M3 13h5l1.5 3h5l1.5-3h5M5.5 5h13L21 13v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-6z',
};

/**
 * Keeps a table body's rows in step with a list, one row per key. Rows are reused, not rebuilt, so a button that
 * has focus keeps it while the data under it changes twice a second.
 */
export function syncRows(tbody, items, keyOf, createRow) {
  const existing = new Map([...tbody.children].map(row => [row.dataset.id, row]));
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let row = existing.get(key);
    if (row) existing.delete(key);
    else {
      row = createRow(item);
      row.dataset.id = key;
    }
    row.update(item);
    const wanted = previous ? previous.nextSibling : tbody.firstChild;
    if (row !== wanted) tbody.insertBefore(row, wanted);
    previous = row;
  }
  for (const row of existing.values()) row.remove();
}

/** Shows a table's rows in `container` (kept in step by syncRows), or what `empty()` makes when there are none. */
export function showRows(container, table, items, keyOf, createRow, empty) {
  if (items.length === 0) {
    container.replaceChildren(empty());
    return;
  }
  if (!table.el.isConnected) container.replaceChildren(h('div', { class: 'table-wrap' }, table.el));
  syncRows(table.tbody, items, keyOf, createRow);
}

/** A table cell with the column name that narrow screens show in front of its one wrapped value. */
export function cell(label, ...children) {
  return h('td', { 'data-label': label }, h('div', { class: 'cell' }, ...children));
}

/** A table whose rows become stacked cards on narrow screens (see .table in app.css). */
export function table(label, columns) {
  const tbody = h('tbody');
  const el = h('table', { class: 'table', 'aria-label': label },
    h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col', text: c })))),
    tbody);
  return { el, tbody };
}

/** Moves to another page of the app; app.js routes on popstate. */
export function navigate(path) {
  if (path !== location.pathname + location.search) history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

// ---- formatting -------------------------------------------------------------------------------------------

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < BINARY.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${BINARY[unit]}`;
}

export function formatRate(bytesPerSecond) {
  return `${formatBytes(Math.max(0, bytesPerSecond || 0))}/s`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function formatPercent(part, whole) {
  if (!whole) return part > 0 ? '100%' : '0%';
  const p = Math.min(100, (part / whole) * 100);
  // 99.95% must not be shown as a finished 100%.
  return `${p >= 99.95 && part < whole ? 99.9 : p.toFixed(p < 10 && p > 0 ? 1 : 0)}%`;
}

function relativeTime(iso, now = Date.now()) {
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 30 * 86400) return `${Math.floor(seconds / 86400)} d ago`;
  return new Date(iso).toLocaleDateString();
}

/** A <time> showing "3 min ago", the exact time on hover; refreshRelativeTimes keeps the text current. */
export function timeAgo(iso) {
  const el = h('time', { 'data-relative': '' });
  setTime(el, iso);
  return el;
}

export function setTime(el, iso) {
  if (el.dateTime !== (iso ?? '')) {
    el.dateTime = iso ?? '';
    el.title = iso ? new Date(iso).toLocaleString() : '';
  }
  setText(el, iso ? relativeTime(iso) : 'never');
}

export function refreshRelativeTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time[data-relative]')) {
    if (el.dateTime) setText(el, relativeTime(el.dateTime, now));
  }
}

export function shortId(id, length = 7) {
  return id ? id.slice(0, length) : '';
}

// ---- feedback ---------------------------------------------------------------------------------------------

/** A short polite message at the bottom of the screen ("Link copied"). */
export function toast(message) {
  const region = document.getElementById('toasts');
  const el = h('div', { class: 'toast', text: message });
  region.append(el);
  setTimeout(() => el.remove(), 3500);
}

/** A visible error that stays until dismissed or the page changes. */
export function showError(error) {
  const message = error instanceof Error ? error.message : String(error);
  const region = document.getElementById('alerts');
  for (const old of region.children) if (old.dataset.message === message) old.remove();
  const el = h('div', { class: 'alert', role: 'alert', 'data-message': message },
    h('span', { text: message }),
    h('button', { type: 'button', class: 'button ghost small', 'aria-label': 'Dismiss', onclick: () => el.remove() }, '×'));
  region.append(el);
}

export function clearErrors() {
  document.getElementById('alerts').replaceChildren();
}

/**
 * Runs an action from a button, shown busy while it runs (aria-disabled, not disabled: a disabled button would
 * drop the keyboard focus), its error shown instead of lost.
 */
export async function act(button, action) {
  if (button?.getAttribute('aria-disabled') === 'true') return undefined;
  button?.setAttribute('aria-disabled', 'true');
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    button?.removeAttribute('aria-disabled');
  }
}

export async function copyText(text, message = 'Link copied') {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else copyWithSelection(text);
    toast(message);
  } catch {
    // The clipboard API can refuse (permissions, focus); the old way still works in those cases.
    try {
      copyWithSelection(text);
      toast(message);
    } catch (error) {
      showError(`Could not copy: ${error.message}`);
    }
  }
}

function copyWithSelection(text) {
  const area = h('textarea', { class: 'visually-hidden', readonly: true, 'aria-hidden': 'true' });
  area.value = text;
  const focused = document.activeElement;
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  focused?.focus(); // selecting moved focus away from the button the user pressed
  if (!copied) throw new Error('the browser refused');
}

/** Asks before something that cannot be undone; resolves true when confirmed. Escape or "Keep" says no. */
export function confirmDialog({ title, message, confirm }) {
  return new Promise(resolve => {
    const titleId = `dialog-title-${Date.now()}`;
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId, text: title }),
      h('p', { text: message }),
      h('form', { method: 'dialog', class: 'dialog-actions' },
        h('button', { class: 'button', value: 'no', text: 'Keep' }),
        h('button', { class: 'button danger', value: 'yes', text: confirm })));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** An empty state: a short sentence and maybe a way forward. */
export function emptyState(text, ...extra) {
  return h('div', { class: 'empty' }, icon(ICONS.empty, 'icon large'), h('p', { text }), ...extra);
}

/** A <dl> of label → value pairs; values may be nodes. */
export function details(pairs) {
  return h('dl', { class: 'details' }, pairs.flatMap(([label, value]) => [h('dt', { text: label }), h('dd', {}, value)]));
}

/** A readonly text field for a link or a code, with a button that copies it when `button` is given. */
export function copyField({ id, label, value = '', button, message, hideLabel = false }) {
  const input = h('input', { id, class: 'input mono', readonly: true, value, onfocus: e => e.target.select() });
  const el = h('div', { class: 'copy-field' },
    h('label', { for: id, class: hideLabel ? 'visually-hidden' : null, text: label }),
    h('div', { class: 'copy-row' }, input,
      button ? h('button', { type: 'button', class: 'button', text: button, onclick: () => copyText(input.value, message) }) : null));
  return { el, input };
}
