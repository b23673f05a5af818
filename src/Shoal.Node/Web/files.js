// Files: every file in the network with search as you type, and one file's page (/f/<id>).

import { api, state, ApiError } from './api.js';
import {
  h, setText, showRows, cell, table, emptyState, details, formatBytes, formatPercent, formatRate, formatDuration,
  act, toast, copyText, copyField, confirmDialog, showError, navigate, shortId,
} from './ui.js';
import { mergeTransfer } from './transfers.js';

const LOCAL_TEXT = { complete: 'here', partial: 'partly here', none: 'not here' };

// ---- actions shared by the list and the file page ---------------------------------------------------------

/** Opens a ticket URL: the browser downloads it as it streams, nothing is held in this page's memory. */
async function downloadInBrowser(file) {
  const ticket = await api(`/api/files/${encodeURIComponent(file.id)}/ticket`, { method: 'POST' });
  const link = h('a', { href: ticket.url, download: '', hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  toast(`Downloading ${file.name}`);
}

async function getToNode(file) {
  const transfer = await api('/api/downloads', { method: 'POST', body: { link: file.link, directory: null } });
  mergeTransfer(transfer);
  toast(transfer.state === 'completed' ? `${file.name} is on this node` : `Getting ${file.name} to this node`);
}

/** Resolves true when removed. A put file disappears from every node, so the question says so. */
async function removeFile(file) {
  const confirmed = await confirmDialog({
    title: `Remove ${file.name}?`,
    message: 'This node stops sharing it. A file that was put into the network is deleted from every node that stores it.',
    confirm: 'Remove',
  });
  if (!confirmed) return false;
  await api(`/api/files/${encodeURIComponent(file.id)}`, { method: 'DELETE' });
  toast(`Removed ${file.name}`);
  return true;
}

function replicasBadge(el, replicas) {
  setText(el, replicas === 0 ? 'unavailable' : replicas === 1 ? '1 copy' : `${replicas} copies`);
  el.className = `badge ${replicas === 0 ? 'bad' : replicas === 1 ? 'warn' : 'good'}`;
  el.title = 'The fewest online nodes holding any one part of the file';
}

function localBadge(el, local) {
  setText(el, LOCAL_TEXT[local] ?? local);
  el.className = `badge local-${local}`;
}

/** Finds a file id in what people paste: a shoal: link, a /f/ web link, or the bare id. */
function parseLink(text) {
  const match = text.trim().match(/(?:^shoal:|\/f\/|^)([a-z2-7]{52})(?:[?&]name=([^&#]*))?/i);
  if (!match) return null;
  let name = '';
  try {
    name = match[2] ? decodeURIComponent(match[2].replace(/\+/g, ' ')) : '';
  } catch {
    // A malformed name is only a label: the id alone finds the file.
  }
  return { id: match[1].toLowerCase(), name };
}

function filePath(id, name) {
  return `/f/${id}${name ? `?name=${encodeURIComponent(name)}` : ''}`;
}

// ---- the list ---------------------------------------------------------------------------------------------

export function mount(root, { query }) {
  let search = query.get('q') ?? '';
  let pending = null;
  let debounce = 0;
  let shownVersion = -1;

  const input = h('input', {
    id: 'file-search', class: 'input', type: 'search', value: search, autocomplete: 'off',
    placeholder: 'Search by name', 'aria-keyshortcuts': '/', spellcheck: 'false',
  });
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  const files = table('Files', ['Name', 'Size', 'Replicas', 'Sources', 'This node', 'Actions']);
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading files…' }));
  const linkInput = h('input', { id: 'open-link', class: 'input mono', placeholder: 'shoal:…', autocomplete: 'off', spellcheck: 'false' });

  root.append(
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1', text: 'Files' }),
      h('a', { href: '/upload', class: 'button primary', text: 'Upload' })),
    h('div', { class: 'toolbar' },
      h('div', { class: 'search' },
        h('label', { for: 'file-search', class: 'visually-hidden', text: 'Search files' }),
        input,
        h('kbd', { class: 'search-key', 'aria-hidden': 'true', text: '/' })),
      h('form', { class: 'open-link', onsubmit: openLink },
        h('label', { for: 'open-link', class: 'visually-hidden', text: 'Shoal link' }),
        linkInput,
        h('button', { class: 'button', type: 'submit', text: 'Open' }))),
    count,
    h('section', { class: 'card flush', 'aria-label': 'Files in the network' }, body));

  function openLink(event) {
    event.preventDefault();
    const link = parseLink(linkInput.value);
    if (!link) return showError('That is not a Shoal link: paste one that starts with shoal: (or a /f/ web link).');
    navigate(filePath(link.id, link.name));
  }

  input.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      search = input.value.trim();
      history.replaceState(history.state, '', search ? `/files?q=${encodeURIComponent(search)}` : '/files');
      load();
    }, 150);
  });

  // "/" jumps to the search box, as on many sites; not while typing somewhere else.
  function onKey(event) {
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest('input, textarea, select, [contenteditable="true"], dialog')) return;
    event.preventDefault();
    input.focus();
    input.select();
  }
  document.addEventListener('keydown', onKey);

  async function load() {
    pending?.abort();
    const controller = new AbortController();
    pending = controller;
    shownVersion = state.filesVersion;
    try {
      const list = await api(search ? `/api/files?q=${encodeURIComponent(search)}` : '/api/files', { signal: controller.signal });
      if (pending === controller) show(list);
    } catch (error) {
      if (error.name !== 'AbortError') showError(error);
    }
  }

  function show(list) {
    const focusInRows = files.tbody.contains(document.activeElement);
    const total = list.reduce((sum, f) => sum + f.size, 0);
    setText(count, list.length === 0 ? '' : `${list.length} ${list.length === 1 ? 'file' : 'files'} · ${formatBytes(total)}${search ? ` matching “${search}”` : ''}`);
    showRows(body, files, list, f => f.id, file => fileRow(file, load), () => search
      ? emptyState(`No file names contain “${search}”.`)
      : emptyState('No files in the network yet.', h('a', { href: '/upload', class: 'button primary', text: 'Upload a file' })));
    // A row that went away took the focus with it; the search box is the natural place to go on from.
    if (focusInRows && !files.tbody.contains(document.activeElement)) input.focus();
  }

  load();
  return {
    update(kind) {
      if (kind === 'filesVersion' && state.filesVersion !== shownVersion) load();
    },
    destroy() {
      clearTimeout(debounce);
      pending?.abort();
      document.removeEventListener('keydown', onKey);
    },
  };
}

function fileRow(initial, onRemoved) {
  let file = initial;
  const name = h('a', { class: 'strong break' });
  const size = h('span');
  const replicas = h('span');
  const sources = h('span');
  const local = h('span');
  const remove = h('button', {
    type: 'button', class: 'button small ghost danger-text', text: 'Remove',
    onclick: e => act(e.currentTarget, async () => { if (await removeFile(file)) onRemoved(); }),
  });
  const row = h('tr', {},
    cell('Name', name),
    cell('Size', size),
    cell('Replicas', replicas),
    cell('Sources', sources),
    cell('This node', local),
    cell('Actions', h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button small', text: 'Copy link', onclick: () => copyText(file.link) }),
      h('button', { type: 'button', class: 'button small', text: 'Get to node', onclick: e => act(e.currentTarget, () => getToNode(file)) }),
      h('button', { type: 'button', class: 'button small', text: 'Download', onclick: e => act(e.currentTarget, () => downloadInBrowser(file)) }),
      remove)));
  row.update = next => {
    file = next;
    name.href = filePath(file.id);
    setText(name, file.name);
    setText(size, formatBytes(file.size));
    replicasBadge(replicas, file.replicas);
    setText(sources, file.sources === 1 ? '1 node' : `${file.sources} nodes`);
    localBadge(local, file.local);
    remove.hidden = file.local !== 'complete';
  };
  return row;
}

// ---- one file ---------------------------------------------------------------------------------------------

export function mountFile(root, { params, query, retitle }) {
  const id = params[0].toLowerCase();
  const hintedName = query.get('name') ?? '';
  let file = null;
  let shownVersion = -1;
  let loaded = false;

  const title = h('h1', { tabindex: '-1', class: 'break', text: hintedName || `File ${shortId(id, 10)}` });
  const body = h('div', {}, h('p', { class: 'muted', text: 'Looking for this file…' }));
  const transferBox = h('div');
  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '/files', text: '← Files' })),
    h('div', { class: 'page-head' }, title),
    body,
    transferBox);

  const webLink = `${location.origin}/f/${id}`;
  const linkOf = () => file?.link ?? `shoal:${id}${hintedName ? `?name=${encodeURIComponent(hintedName)}` : ''}`;
  const subject = () => file ?? { id, name: hintedName || shortId(id, 10), link: linkOf() };

  function actions() {
    return h('div', { class: 'actions wide' },
      file ? h('button', { type: 'button', class: 'button primary', text: 'Download', onclick: e => act(e.currentTarget, () => downloadInBrowser(file)) }) : null,
      h('button', { type: 'button', class: 'button', text: 'Get to node', onclick: e => act(e.currentTarget, () => getToNode(subject())) }),
      h('button', { type: 'button', class: 'button', text: 'Copy link', onclick: () => copyText(linkOf()) }),
      file?.local === 'complete'
        ? h('button', {
          type: 'button', class: 'button ghost danger-text', text: 'Remove',
          onclick: e => act(e.currentTarget, async () => { if (await removeFile(file)) load(); }),
        })
        : null);
  }

  function links() {
    return h('div', { class: 'links' },
      copyField({ id: 'shoal-link', label: 'Shoal link', value: linkOf() }).el,
      copyField({ id: 'web-link', label: 'Web link (opens this page on a node)', value: webLink, button: 'Copy web link' }).el);
  }

  function render() {
    // Rebuilt when the file's facts change: the keyboard focus moves to the new button of the same name.
    const focused = body.contains(document.activeElement) ? document.activeElement.textContent : null;
    build();
    if (focused) [...body.querySelectorAll('button')].find(b => b.textContent === focused)?.focus();
  }

  function build() {
    if (file) {
      setText(title, file.name);
      retitle();
      body.replaceChildren(h('section', { class: 'card', 'aria-label': 'File' },
        actions(),
        details([
          ['Size', formatBytes(file.size)],
          ['Replicas', replicaNode(file.replicas)],
          ['On this node', localNode(file.local)],
          ['Sources', file.sources === 1 ? '1 online node' : `${file.sources} online nodes`],
          ['File ID', h('span', { class: 'mono break', text: file.id })],
        ]),
        links()));
    } else {
      body.replaceChildren(h('section', { class: 'card', 'aria-label': 'File' },
        h('p', { class: 'notice' }, 'This file is not known to any online node. ',
          h('strong', { text: 'Get to node' }), ' starts a download that waits until a node holding it comes online.'),
        actions(),
        details([['File ID', h('span', { class: 'mono break', text: id })]]),
        links()));
    }
  }

  function showTransfer() {
    const transfer = state.transfers?.find(t => t.id === id);
    if (!transfer) return transferBox.replaceChildren();
    const name = transfer.name || subject().name;
    let view = transferBox.firstChild;
    if (!view) {
      view = transferView(name);
      transferBox.append(view);
    }
    view.update(transfer);
  }

  async function load() {
    shownVersion = state.filesVersion;
    let next = null;
    try {
      next = await api(`/api/files/${encodeURIComponent(id)}`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        showError(error);
        if (!loaded) body.replaceChildren(h('p', { class: 'muted', text: 'This file could not be looked up.' }));
        return;
      }
    }
    const changed = !loaded || JSON.stringify(next) !== JSON.stringify(file);
    loaded = true;
    file = next;
    if (changed) render();
  }

  load();
  showTransfer();
  return {
    update(kind) {
      if (kind === 'filesVersion' && state.filesVersion !== shownVersion) load();
      if (kind === 'transfers') showTransfer();
    },
  };
}

function replicaNode(replicas) {
  const el = h('span');
  replicasBadge(el, replicas);
  return el;
}

function localNode(local) {
  const el = h('span');
  localBadge(el, local);
  return el;
}

/** This file's download to the node, as on the Transfers page but without the controls. */
function transferView(name) {
  const progress = h('progress', { max: 1, value: 0, 'aria-label': `Progress of ${name}` });
  const line = h('p', { class: 'muted' });
  const view = h('section', { class: 'card', 'aria-labelledby': 'transfer-heading' },
    h('h2', { id: 'transfer-heading', text: 'Download to this node' }),
    progress, line,
    h('p', {}, h('a', { href: '/transfers', text: 'Manage on the Transfers page' })));
  view.update = t => {
    progress.max = Math.max(1, t.size);
    progress.value = t.verifiedBytes;
    const parts = [t.state, formatPercent(t.verifiedBytes, t.size), `${formatBytes(t.verifiedBytes)} of ${formatBytes(t.size)}`];
    if (t.state === 'downloading') parts.push(formatRate(t.bytesPerSecond), `${formatDuration(t.etaSeconds)} left`);
    if (t.state === 'completed' && t.path) parts.push(`saved as ${t.path}`);
    if (t.error) parts.push(t.error);
    setText(line, parts.join(' · '));
  };
  return view;
}
