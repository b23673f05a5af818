// Transfers: downloads to this node (pause, resume, cancel, retry) and puts that are placing chunks.

import { api, state, setState } from './api.js';
import {
  h, setText, showRows, syncRows, cell, table, emptyState, formatBytes, formatPercent, formatRate, formatDuration, act, shortId,
} from './ui.js';

/** Shows an answer from the node at once instead of waiting for the event stream to repeat it. */
export function mergeTransfer(transfer) {
  const list = state.transfers ?? [];
  const known = list.some(t => t.id === transfer.id);
  setState('transfers', known ? list.map(t => (t.id === transfer.id ? transfer : t)) : [...list, transfer]);
}

const ACTIVE = new Set(['waiting', 'downloading', 'diskfull']);

export function mount(root) {
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const transfers = table('Transfers', ['Name', 'Progress', 'Rate', 'ETA', 'Sources', 'State', 'Actions']);
  const transfersBody = h('div', {}, h('p', { class: 'muted', text: 'Loading transfers…' }));
  const puts = table('Puts', ['Name', 'Placed', 'Rate']);
  const putsSection = h('section', { class: 'card flush', 'aria-labelledby': 'puts-heading', hidden: true },
    h('h2', { id: 'puts-heading', class: 'card-title', text: 'Storing into the network' }),
    h('div', { class: 'table-wrap' }, puts.el));

  root.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', text: 'Transfers' })),
    summary,
    h('section', { class: 'card flush', 'aria-label': 'Downloads to this node' }, transfersBody),
    putsSection);

  function showTransfers(list) {
    const active = list.filter(t => ACTIVE.has(t.state));
    const rate = active.reduce((sum, t) => sum + t.bytesPerSecond, 0);
    setText(summary, active.length === 0 ? '' : `${active.length} active · ${formatRate(rate)}`);
    showRows(transfersBody, transfers, list, t => t.id, transferRow,
      () => emptyState('Nothing is downloading to this node. Pick a file on the Files page and choose “Get to node”.',
        h('a', { href: '/files', class: 'button', text: 'Browse files' })));
  }

  function showPuts(list) {
    putsSection.hidden = list.length === 0;
    syncRows(puts.tbody, list, p => p.id, putRow);
  }

  function update(kind) {
    if ((kind === 'transfers' || kind === undefined) && state.transfers) showTransfers(state.transfers);
    if ((kind === 'puts' || kind === undefined) && state.puts) showPuts(state.puts);
  }

  update();
  return { update };
}

function transferRow(initial) {
  let transfer = initial;
  const name = h('a', { class: 'strong break' });
  const note = h('div', { class: 'small' });
  const progress = h('progress', { max: 1, value: 0 });
  const progressText = h('div', { class: 'small muted' });
  const rate = h('span');
  const eta = h('span');
  const sources = h('span');
  const peers = h('div', { class: 'small muted' });
  const badge = h('span');

  const button = (text, action, cls = 'button small') => h('button', {
    type: 'button', class: cls, text,
    onclick: e => act(e.currentTarget, () => control(row, transfer, action, e.currentTarget)),
  });
  const buttons = {
    pause: button('Pause', 'pause'),
    resume: button('Resume', 'resume'),
    retry: button('Retry', 'resume'),
    cancel: button('Cancel', 'cancel', 'button small ghost danger-text'),
  };

  const row = h('tr', {},
    cell('Name', name, note),
    cell('Progress', h('div', { class: 'progress-cell' }, progress, progressText)),
    cell('Rate', rate),
    cell('ETA', eta),
    cell('Sources', sources, peers),
    cell('State', badge),
    cell('Actions', h('div', { class: 'actions' }, buttons.pause, buttons.resume, buttons.retry, buttons.cancel)));

  row.update = next => {
    transfer = next;
    const t = next;
    const running = t.state === 'downloading';
    const title = t.name || `File ${shortId(t.id, 10)}`; // a link without ?name= has none until a holder answers
    name.href = `/f/${t.id}`;
    setText(name, title);
    progress.setAttribute('aria-label', `Progress of ${title}`);
    progress.max = Math.max(1, t.size);
    progress.value = t.state === 'completed' ? progress.max : t.verifiedBytes;
    setText(progressText, `${formatPercent(t.verifiedBytes, t.size)} · ${formatBytes(t.verifiedBytes)} of ${formatBytes(t.size)}`);
    setText(rate, running ? formatRate(t.bytesPerSecond) : '–');
    setText(eta, running && t.etaSeconds != null ? formatDuration(t.etaSeconds) : '–');
    setText(sources, t.sources === 1 ? '1 node' : `${t.sources} nodes`);
    setText(peers, t.peers.map(p => p.name).join(', '));
    peers.title = t.peers.map(p => `${p.name}: ${formatBytes(p.bytes)}, ${formatRate(p.bytesPerSecond)}`).join('\n');
    setText(badge, t.state);
    badge.className = `badge state-${t.state}`;
    setText(note, t.error ?? (t.state === 'completed' && t.path ? `Saved as ${t.path}` : ''));
    note.className = `small break ${t.error ? 'error-text' : 'muted'}`;
    buttons.pause.hidden = !ACTIVE.has(t.state);
    buttons.resume.hidden = t.state !== 'paused';
    buttons.retry.hidden = t.state !== 'failed';
    buttons.cancel.hidden = t.state === 'completed' || t.state === 'cancelled';
  };
  return row;
}

async function control(row, transfer, action, pressed) {
  const path = `/api/downloads/${encodeURIComponent(transfer.id)}`;
  if (action === 'cancel') {
    await api(path, { method: 'DELETE' });
    // Dropped rather than merged: the event stream may already have sent the list without it.
    setState('transfers', (state.transfers ?? []).filter(t => t.id !== transfer.id));
  } else {
    mergeTransfer(await api(`${path}/${action}`, { method: 'POST' }));
  }
  // Pause turns into Resume and back: keep the keyboard on the button that took its place.
  if (pressed.hidden) (row.querySelector('.actions button:not([hidden])') ?? row.querySelector('a'))?.focus();
}

function putRow() {
  const name = h('span', { class: 'strong break' });
  const progress = h('progress', { max: 1, value: 0 });
  const text = h('div', { class: 'small muted' });
  const rate = h('span');
  const row = h('tr', {},
    cell('Name', name),
    cell('Placed', h('div', { class: 'progress-cell' }, progress, text)),
    cell('Rate', rate));
  row.update = p => {
    setText(name, p.name);
    progress.setAttribute('aria-label', `Placing ${p.name}`);
    progress.max = Math.max(1, p.size);
    progress.value = p.placedBytes;
    setText(text, `${formatPercent(p.placedBytes, p.size)} · ${formatBytes(p.placedBytes)} of ${formatBytes(p.size)}`);
    setText(rate, formatRate(p.bytesPerSecond));
  };
  return row;
}
