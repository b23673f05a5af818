// Folder: the synced folder's state, its conflicts and the recent changes with who made them and when.

import { api, state } from './api.js';
import {
  h, setText, setTime, timeAgo, showRows, cell, table, details, emptyState, formatBytes, act, toast, shortId,
} from './ui.js';

const STATE_TEXT = { idle: 'In sync', scanning: 'Scanning', syncing: 'Syncing', error: 'Error' };

export function mount(root) {
  const f = {};
  const value = (key, cls) => (f[key] = h('span', { class: cls, text: '…' }));
  const badge = h('span', { class: 'badge', text: '…' });
  const problem = h('p', { class: 'error-text', hidden: true });
  const conflicts = h('div');
  const events = table('Folder events', ['When', 'Change', 'Path', 'Who', 'Detail']);
  const eventsBody = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  f.lastScan = timeAgo(null);

  root.append(
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1', text: 'Folder' }),
      h('button', { type: 'button', class: 'button', text: 'Scan now', onclick: e => act(e.currentTarget, scan) })),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'sync-heading' },
        h('div', { class: 'card-head' }, h('h2', { id: 'sync-heading', text: 'Sync state' }), badge),
        problem,
        details([
          ['Path', value('path', 'mono break')],
          ['Files', value('files')],
          ['Size', value('bytes')],
          ['Directories', value('directories')],
          ['Last scan', f.lastScan],
        ])),
      h('section', { class: 'card', 'aria-labelledby': 'conflicts-heading' },
        h('h2', { id: 'conflicts-heading', text: 'Conflicts' }), conflicts)),
    h('section', { class: 'card flush', 'aria-labelledby': 'events-heading' },
      h('h2', { id: 'events-heading', class: 'card-title', text: 'Recent changes' }), eventsBody));

  async function scan() {
    const result = await api('/api/folder/scan', { method: 'POST' });
    const changes = result.changes === 1 ? '1 change' : `${result.changes} changes`;
    toast(`Scan done: ${changes}, ${result.filesHashed} files hashed (${formatBytes(result.bytesHashed)})`);
  }

  function show(folder) {
    const text = folder.state === 'syncing' && folder.needFiles > 0
      ? `Syncing ${folder.needFiles} ${folder.needFiles === 1 ? 'file' : 'files'}`
      : STATE_TEXT[folder.state] ?? folder.state;
    setText(badge, text);
    badge.className = `badge folder-${folder.state}`;
    problem.hidden = !folder.problem;
    setText(problem, folder.problem ?? '');
    setText(f.path, folder.path);
    setText(f.files, folder.files.toLocaleString());
    setText(f.bytes, formatBytes(folder.bytes));
    setText(f.directories, folder.directories.toLocaleString());
    setTime(f.lastScan, folder.lastScan);
    showConflicts(folder);
    showEvents(folder.events);
  }

  let shownConflicts = '';
  function showConflicts(folder) {
    const recent = folder.events.filter(e => e.kind === 'conflict');
    const key = JSON.stringify([folder.conflicts, recent]);
    if (key === shownConflicts) return;
    shownConflicts = key;
    if (folder.conflicts === 0) {
      conflicts.replaceChildren(h('p', { class: 'muted', text: 'No conflicts.' }));
      return;
    }
    conflicts.replaceChildren(
      h('p', {}, h('strong', { text: folder.conflicts === 1 ? '1 conflict copy' : `${folder.conflicts} conflict copies` }),
        ' in the folder. When two nodes changed a file without seeing each other’s change, both are kept: the later edit keeps the name, the other is saved as name.conflict-…. Keep the one you want and delete the other.'),
      recent.length === 0 ? null : h('ul', { class: 'list' }, recent.map(e => h('li', {},
        h('span', { class: 'mono break', text: e.path }),
        h('span', { class: 'muted small' }, ` · ${who(e)} · `, timeAgo(e.time))))));
  }

  function showEvents(list) {
    showRows(eventsBody, events, list, e => `${e.time}|${e.kind}|${e.device}|${e.path}`, eventRow,
      () => emptyState('No changes yet. Files added to the folder on any node show up here.'));
  }

  function update(kind) {
    const folder = state.folder ?? state.status?.folder;
    if (folder && (kind === undefined || kind === 'folder' || (kind === 'status' && !state.folder))) show(folder);
  }

  update();
  return { update };
}

function who(event) {
  if (state.status && event.device === state.status.id) return 'this node';
  return event.deviceName || shortId(event.device);
}

function eventRow() {
  const time = timeAgo(null);
  const kind = h('span');
  const path = h('span', { class: 'mono break' });
  const device = h('span');
  const detail = h('span', { class: 'muted break' });
  const row = h('tr', {}, cell('When', time), cell('Change', kind), cell('Path', path), cell('Who', device), cell('Detail', detail));
  row.update = e => {
    setTime(time, e.time);
    setText(kind, e.kind);
    kind.className = `badge kind-${e.kind}`;
    setText(path, e.path);
    setText(device, who(e));
    device.title = e.device;
    setText(detail, e.detail || '');
  };
  return row;
}
