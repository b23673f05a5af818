// Upload: pick or drop files, then share them or put them into the network, one after another.
// The queue lives in this module, not in the page, so uploads go on while the user looks at other pages.

import { uploadFile, state } from './api.js';
import {
  h, setText, syncRows, icon, ICONS, formatBytes, formatRate, formatDuration, formatPercent, copyField, showError, clearErrors, toast,
} from './ui.js';

const uploads = [];
const listeners = new Set();
let nextId = 1;
let sending = false;

function changed() {
  for (const listener of listeners) listener();
}

function enqueue(files, mode, replicas) {
  for (const file of files) {
    uploads.push({ id: `upload-${nextId++}`, file, mode, replicas, status: 'queued', sent: 0, rate: 0, samples: [], result: null, error: '', abort: null });
  }
  changed();
  sendQueue();
}

async function sendQueue() {
  if (sending) return;
  sending = true;
  try {
    for (let next; (next = uploads.find(u => u.status === 'queued'));) await send(next);
  } finally {
    sending = false;
  }
}

async function send(upload) {
  Object.assign(upload, { status: 'sending', sent: 0, rate: 0, samples: [], error: '' });
  changed();
  const { done, abort } = uploadFile(upload.file, upload, {
    onProgress: loaded => {
      measure(upload, loaded);
      changed();
    },
    onSent: () => {
      upload.status = 'finishing';
      changed();
    },
  });
  upload.abort = abort;
  try {
    upload.result = await done;
    upload.status = 'done';
    toast(`${upload.file.name} uploaded`);
  } catch (error) {
    if (error.name === 'AbortError') upload.status = 'aborted';
    else {
      upload.status = 'failed';
      upload.error = error.message;
      showError(`${upload.file.name}: ${error.message}`);
    }
  }
  upload.abort = null;
  changed();
}

/** The rate over the last few seconds: steadier than between two events, truer than since the start. */
function measure(upload, loaded) {
  const now = performance.now();
  upload.sent = loaded;
  upload.samples.push([now, loaded]);
  while (upload.samples.length > 2 && now - upload.samples[0][0] > 3000) upload.samples.shift();
  const [t0, b0] = upload.samples[0];
  if (now - t0 > 250) upload.rate = ((loaded - b0) * 1000) / (now - t0);
}

function abortUpload(upload) {
  if (upload.abort) upload.abort();
  else if (upload.status === 'queued') {
    upload.status = 'aborted';
    changed();
  }
}

const busy = () => uploads.some(u => u.status === 'queued' || u.status === 'sending' || u.status === 'finishing');

// Leaving the page would cut the uploads off: let the browser ask first.
window.addEventListener('beforeunload', event => {
  if (busy()) event.preventDefault();
});

// ---- the page ---------------------------------------------------------------------------------------------

export function mount(root) {
  let selected = [];
  const input = h('input', { id: 'upload-input', type: 'file', multiple: true, class: 'visually-hidden', tabindex: '-1' });
  const zone = h('div', { class: 'dropzone', tabindex: '0', role: 'button' },
    icon(ICONS.upload, 'icon large'),
    h('p', { class: 'dropzone-title', text: 'Drop files here' }),
    h('p', { class: 'muted', text: 'or click, or press Enter, to pick them' }));
  const selection = h('div', { class: 'selection', 'aria-live': 'polite' });
  const share = radio('share', 'Share', 'Offer the file from this node; others fetch it when they need it.', true);
  const put = radio('put', 'Put into the network', 'Store every chunk on several nodes, so the file stays available while this node is off.', false);
  const replicas = h('input', { id: 'upload-replicas', class: 'input narrow', type: 'number', min: '1', max: '8', step: '1', value: '2', disabled: true, 'aria-describedby': 'replicas-help' });
  const start = h('button', { type: 'submit', class: 'button primary', text: 'Upload' });
  const list = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const clear = h('button', { type: 'button', class: 'button small ghost', text: 'Clear finished', onclick: clearFinished });
  const listSection = h('section', { class: 'card', 'aria-labelledby': 'uploads-heading', hidden: true },
    h('div', { class: 'card-head' }, h('h2', { id: 'uploads-heading', text: 'Uploads' }), clear), list);

  root.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', text: 'Upload' })),
    h('form', { class: 'card form', onsubmit: submit },
      h('label', { for: 'upload-input', class: 'visually-hidden', text: 'Choose files' }),
      input, zone,
      h('p', { class: 'hint', text: 'Any size: a file streams straight to the node’s disk, so it may be larger than this computer’s memory.' }),
      selection,
      h('fieldset', { class: 'modes' },
        h('legend', { text: 'What to do with them' }), share.el, put.el),
      h('div', { class: 'field' },
        h('label', { for: 'upload-replicas', text: 'Replicas' }), replicas,
        h('p', { id: 'replicas-help', class: 'hint', text: 'For put: how many nodes keep each chunk (1 to 8).' })),
      h('div', { class: 'form-actions' }, start)),
    listSection);

  share.input.addEventListener('change', () => { replicas.disabled = true; });
  put.input.addEventListener('change', () => { replicas.disabled = false; });
  input.addEventListener('change', () => choose([...input.files]));
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', event => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
    input.click();
  });
  zone.addEventListener('dragover', event => {
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', event => {
    event.preventDefault();
    zone.classList.remove('dragging');
    choose(droppedFiles(event.dataTransfer));
  });
  // A file dropped beside the zone would make the browser leave the app to show it.
  const keepDrops = event => event.preventDefault();
  document.addEventListener('dragover', keepDrops);
  document.addEventListener('drop', keepDrops);

  function choose(files) {
    clearErrors(); // a "choose files first" from before no longer applies
    selected = [...selected, ...files];
    showSelection();
  }

  function showSelection() {
    if (selected.length === 0) return selection.replaceChildren();
    const total = selected.reduce((sum, f) => sum + f.size, 0);
    selection.replaceChildren(
      h('div', { class: 'card-head' },
        h('p', { class: 'strong', text: `${selected.length} ${selected.length === 1 ? 'file' : 'files'} selected · ${formatBytes(total)}` }),
        h('button', { type: 'button', class: 'button small ghost', text: 'Clear selection', onclick: () => { selected = []; input.value = ''; showSelection(); zone.focus(); } })),
      h('ul', { class: 'file-names' }, selected.map(f => h('li', {}, h('span', { class: 'break', text: f.name }), h('span', { class: 'muted', text: formatBytes(f.size) })))));
  }

  function submit(event) {
    event.preventDefault();
    if (selected.length === 0) {
      showError('Choose or drop the files to upload first.');
      zone.focus();
      return;
    }
    const mode = put.input.checked ? 'put' : 'share';
    const count = Number(replicas.value);
    if (mode === 'put' && !(Number.isInteger(count) && count >= 1 && count <= 8)) {
      showError('Replicas must be a whole number from 1 to 8.');
      replicas.focus();
      return;
    }
    enqueue(selected, mode, count);
    selected = [];
    input.value = '';
    showSelection();
  }

  function clearFinished() {
    for (let i = uploads.length - 1; i >= 0; i--) {
      if (['done', 'failed', 'aborted'].includes(uploads[i].status)) uploads.splice(i, 1);
    }
    changed();
    zone.focus();
  }

  function render() {
    listSection.hidden = uploads.length === 0;
    clear.hidden = !uploads.some(u => ['done', 'failed', 'aborted'].includes(u.status));
    syncRows(list, uploads, u => u.id, uploadItem);
  }

  listeners.add(render);
  render();
  return {
    update(kind) {
      if (kind === 'puts') render();
    },
    destroy() {
      listeners.delete(render);
      document.removeEventListener('dragover', keepDrops);
      document.removeEventListener('drop', keepDrops);
    },
  };
}

function radio(value, label, help, checked) {
  const id = `mode-${value}`;
  const input = h('input', { id, type: 'radio', name: 'mode', value, checked, 'aria-describedby': `${id}-help` });
  const el = h('div', { class: 'radio' }, input,
    h('div', {}, h('label', { for: id, text: label }), h('p', { id: `${id}-help`, class: 'hint', text: help })));
  return { el, input };
}

/** Folders cannot be sent as one body; say so instead of failing on a zero-byte "file". */
function droppedFiles(transfer) {
  const files = [];
  const items = [...(transfer.items ?? [])];
  [...transfer.files].forEach((file, i) => {
    if (items[i]?.webkitGetAsEntry?.()?.isDirectory) showError(`${file.name} is a folder: drop the files in it, or use the synced folder.`);
    else files.push(file);
  });
  return files;
}

function uploadItem(upload) {
  const name = upload.file.name;
  const progress = h('progress', { max: Math.max(1, upload.file.size), value: 0, 'aria-label': `Upload of ${name}` });
  const line = h('p', { class: 'small muted' });
  const outcome = h('div');
  const abort = h('button', { type: 'button', class: 'button small ghost danger-text', text: 'Abort', onclick: () => abortUpload(upload) });
  const retry = h('button', { type: 'button', class: 'button small', text: 'Retry', onclick: () => { upload.status = 'queued'; changed(); sendQueue(); } });
  const item = h('li', { class: 'upload' },
    h('div', { class: 'upload-head' },
      h('span', { class: 'strong break', text: name }),
      h('span', { class: 'muted', text: `${formatBytes(upload.file.size)} · ${upload.mode === 'put' ? `put, ${upload.replicas} replicas` : 'share'}` }),
      h('div', { class: 'actions' }, abort, retry)),
    progress, line, outcome);

  let shownResult = null;
  item.update = u => {
    progress.value = u.status === 'done' ? progress.max : u.sent;
    progress.classList.toggle('failed', u.status === 'failed' || u.status === 'aborted');
    setText(line, describe(u));
    line.className = `small ${u.status === 'failed' ? 'error-text' : 'muted'}`;
    abort.hidden = !['queued', 'sending', 'finishing'].includes(u.status);
    retry.hidden = u.status !== 'failed';
    if (u.result && shownResult !== u.result) {
      shownResult = u.result;
      outcome.replaceChildren(result(u.result));
    }
  };
  return item;
}

function describe(u) {
  const size = u.file.size;
  switch (u.status) {
    case 'queued': return 'Waiting for the uploads before it';
    case 'sending': {
      const parts = [formatPercent(u.sent, size), `${formatBytes(u.sent)} of ${formatBytes(size)}`, formatRate(u.rate)];
      if (u.rate > 0) parts.push(`${formatDuration((size - u.sent) / u.rate)} left`);
      return parts.join(' · ');
    }
    case 'finishing': {
      if (u.mode === 'share') return '100% · sent; the node is hashing it';
      const placing = state.puts?.find(p => p.name === u.file.name);
      return placing
        ? `100% · sent; placing chunks on other nodes: ${formatPercent(placing.placedBytes, placing.size)}`
        : '100% · sent; placing chunks on other nodes';
    }
    case 'done':
      if (u.result.mode !== 'put') return 'Done: shared from this node';
      return u.result.copies == null ? 'Done: put into the network' : `Done: put into the network, every chunk on ${u.result.copies} ${u.result.copies === 1 ? 'node' : 'nodes'}`;
    case 'failed': return `Failed: ${u.error}`;
    default: return 'Aborted';
  }
}

function result(upload) {
  const short = upload.mode === 'put' && upload.copies != null && upload.replicas != null && upload.copies < upload.replicas;
  const link = copyField({ id: `link-${upload.id}`, label: `Link to ${upload.name}`, value: upload.link, button: 'Copy link', hideLabel: true });
  link.el.querySelector('.copy-row').append(h('a', { href: `/f/${upload.id}`, class: 'button ghost', text: 'Open' }));
  return h('div', { class: 'upload-result' },
    short ? h('p', { class: 'warn-text', text: `Only ${upload.copies} of ${upload.replicas} copies: too few nodes were reachable. More are made when nodes come online.` }) : null,
    link.el);
}
