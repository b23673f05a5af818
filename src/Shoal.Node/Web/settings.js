// Settings: name, folders and rate limits (sent only when changed), and the invite code for a new device.

import { api } from './api.js';
import { h, details, act, copyField, setText } from './ui.js';

const RESTART_NAMES = {
  name: 'name', folder: 'synced folder', downloads: 'download directory', uploadLimit: 'upload limit', downloadLimit: 'download limit',
};

export function mount(root) {
  const fields = {
    name: textField('name', 'Name', { required: true, autocomplete: 'off' }),
    folder: textField('folder', 'Synced folder', { class: 'input mono' }, 'Every member keeps this folder in sync.'),
    downloads: textField('downloads', 'Download directory', { class: 'input mono' }, 'Where “Get to node” saves files.'),
    uploadLimit: limitField('uploadLimit', 'Upload limit (KiB/s)'),
    downloadLimit: limitField('downloadLimit', 'Download limit (KiB/s)'),
  };
  const saved = new Map(); // what the node has, as the fields show it: only differences are sent
  const status = h('p', { role: 'status', class: 'form-status' });
  const save = h('button', { type: 'submit', class: 'button primary', text: 'Save' });
  const form = h('form', { class: 'form', onsubmit: submit, 'aria-labelledby': 'node-settings' },
    h('h2', { id: 'node-settings', text: 'This node' }),
    Object.values(fields).map(f => f.el),
    h('div', { class: 'form-actions' }, save, status));
  const invite = copyField({ id: 'invite-code', label: 'Invite code', value: '…', button: 'Copy invite code', message: 'Invite code copied', hideLabel: true });
  const node = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));

  root.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', text: 'Settings' })),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, form),
      h('div', { class: 'stack' },
        h('section', { class: 'card', 'aria-labelledby': 'invite-heading' },
          h('h2', { id: 'invite-heading', text: 'Invite code' }),
          h('p', { class: 'muted', id: 'invite-help' },
            'Another computer joins this network with ', h('code', { text: 'shoal init --join CODE' }),
            '. The code holds the network’s secret: give it only to your own devices.'),
          invite.el),
        h('section', { class: 'card', 'aria-labelledby': 'connection-heading' },
          h('h2', { id: 'connection-heading', text: 'Connection' }), node))));
  invite.input.setAttribute('aria-describedby', 'invite-help');

  function show(settings) {
    for (const [key, field] of Object.entries(fields)) {
      field.input.value = field.fromApi(settings[key]);
      saved.set(key, field.input.value);
    }
    node.replaceChildren(details([
      ['Web UI and API', h('span', { class: 'mono break', text: settings.api })],
      ['Peer protocol', h('span', { class: 'mono break', text: settings.listen })],
      ['Peers', h('span', { class: 'lines mono', text: settings.peers.join('\n') || 'none' })],
      ['Trackers', h('span', { class: 'lines mono', text: settings.trackers.join('\n') || 'none' })],
      ['Password', settings.passwordSet ? 'set: the web UI asks for it' : 'not set: only this computer can open the web UI'],
    ]));
  }

  async function submit(event) {
    event.preventDefault();
    setText(status, '');
    const changes = {};
    for (const [key, field] of Object.entries(fields)) {
      if (field.input.value !== saved.get(key)) changes[key] = field.toApi(field.input.value);
    }
    if (Object.keys(changes).length === 0) return setText(status, 'Nothing changed.');
    await act(save, async () => {
      const result = await api('/api/settings', { method: 'PUT', body: changes });
      show(result.settings);
      const restart = result.restartRequired.map(key => RESTART_NAMES[key] ?? key);
      setText(status, restart.length === 0 ? 'Saved.' : `Saved. Restart the node to apply: ${restart.join(', ')}.`);
    });
  }

  act(null, async () => show(await api('/api/settings')));
  act(null, async () => { invite.input.value = (await api('/api/invite')).code; });
}

function textField(key, label, attrs = {}, help = '') {
  const id = `setting-${key}`;
  const input = h('input', { id, class: 'input', type: 'text', spellcheck: 'false', ...attrs, 'aria-describedby': help ? `${id}-help` : null });
  const el = h('div', { class: 'field' },
    h('label', { for: id, text: label }), input,
    help ? h('p', { id: `${id}-help`, class: 'hint', text: help }) : null);
  return { el, input, fromApi: v => v ?? '', toApi: v => v.trim() };
}

/** The API counts bytes per second; people think in KiB/s. 0 means unlimited in both. */
function limitField(key, label) {
  const field = textField(key, label, { class: 'input limit', type: 'number', min: '0', step: '1', inputmode: 'numeric', required: true }, '0 = unlimited');
  field.fromApi = bytes => String(Math.round((bytes ?? 0) / 1024));
  field.toApi = kib => Math.round(Number(kib) * 1024);
  return field;
}
