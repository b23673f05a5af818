// Overview: this node, the totals, the trackers and every known peer.

import { state } from './api.js';
import { h, setText, setTime, timeAgo, showRows, cell, table, details, emptyState, formatBytes, formatRate, shortId } from './ui.js';

export function mount(root) {
  const stat = (label) => {
    const value = h('span', { class: 'stat-value', text: '–' });
    const note = h('span', { class: 'stat-note' });
    return { el: h('div', { class: 'stat' }, h('span', { class: 'stat-label', text: label }), value, note), value, note };
  };
  const peersStat = stat('Peers online');
  const upStat = stat('Uploaded');
  const downStat = stat('Downloaded');
  const activeStat = stat('Active transfers');

  const node = {};
  const field = (key, cls) => (node[key] = h('span', { class: cls, text: '…' }));
  const trackers = h('div');
  const peers = table('Peers', ['Name', 'Device', 'Status', 'Last seen', 'Addresses', 'RTT', 'Link', 'Rates']);
  const peersBody = h('div', {}, h('p', { class: 'muted', text: 'Loading peers…' }));

  root.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', text: 'Overview' })),
    h('section', { class: 'stats', 'aria-label': 'Totals' }, peersStat.el, upStat.el, downStat.el, activeStat.el),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'node-heading' },
        h('h2', { id: 'node-heading', text: 'This node' }),
        details([
          ['Name', field('name')],
          ['Device ID', field('id', 'mono break')],
          ['Network', field('network', 'mono break')],
          ['Addresses', field('addresses', 'lines mono')],
          ['Listening on', field('listen', 'lines mono')],
          ['Version', field('version')],
          ['Home', field('home', 'mono break')],
        ])),
      h('section', { class: 'card', 'aria-labelledby': 'trackers-heading' },
        h('h2', { id: 'trackers-heading', text: 'Trackers' }), trackers)),
    h('section', { class: 'card flush', 'aria-labelledby': 'peers-heading' },
      h('h2', { id: 'peers-heading', class: 'card-title', text: 'Peers' }), peersBody));

  function showStatus(status) {
    setText(peersStat.value, `${status.peersOnline} / ${status.peersKnown}`);
    setText(peersStat.note, status.peersKnown === 1 ? '1 node known' : `${status.peersKnown} nodes known`);
    setText(upStat.value, formatBytes(status.uploadedBytes));
    setText(downStat.value, formatBytes(status.downloadedBytes));
    setText(activeStat.value, String(status.activeTransfers));
    setText(node.name, status.name);
    setText(node.id, status.id);
    setText(node.network, status.network);
    setText(node.addresses, status.addresses.join('\n') || 'none');
    setText(node.listen, status.listen.join('\n'));
    setText(node.version, status.version);
    setText(node.home, status.home);
    showTrackers(status.trackers);
  }

  let shownTrackers = '';
  function showTrackers(list) {
    // Status arrives with every byte counter change; the trackers in it rarely change.
    const key = JSON.stringify(list);
    if (key === shownTrackers) return;
    shownTrackers = key;
    if (list.length === 0) {
      trackers.replaceChildren(h('p', { class: 'muted', text: 'No trackers. Members find each other on the local network or through the peers in the settings.' }));
      return;
    }
    trackers.replaceChildren(h('ul', { class: 'list' }, list.map(t => h('li', {},
      h('div', { class: 'list-main' },
        h('span', { class: `badge ${t.online ? 'status-online' : 'status-offline'}`, text: t.online ? 'online' : 'offline' }),
        h('span', { class: 'mono break', text: t.url })),
      h('div', { class: 'muted small' },
        `${t.peers} ${t.peers === 1 ? 'member' : 'members'} · last announce `,
        t.lastAnnounce ? timeAgo(t.lastAnnounce) : 'never',
        t.error ? h('span', { class: 'error-text', text: ` · ${t.error}` }) : null)))));
  }

  function showPeers(list) {
    showRows(peersBody, peers, list, p => p.id, peerRow,
      () => emptyState('No other nodes yet. Invite one with the code in Settings.',
        h('a', { href: '/settings', class: 'button', text: 'Get the invite code' })));
  }

  function update(kind) {
    if ((kind === 'status' || kind === undefined) && state.status) showStatus(state.status);
    if ((kind === 'peers' || kind === undefined) && state.peers) showPeers(state.peers);
  }

  update();
  return { update };
}

function peerRow() {
  const name = h('span', { class: 'strong' });
  const revoked = h('span', { class: 'badge status-revoked', text: 'revoked', hidden: true });
  const device = h('code');
  const badge = h('span', { class: 'badge' });
  const seen = timeAgo(null);
  const addresses = h('span', { class: 'lines mono small' });
  const rtt = h('span');
  const link = h('span');
  const up = h('span');
  const down = h('span');
  const row = h('tr', {},
    cell('Name', name, ' ', revoked),
    cell('Device', device),
    cell('Status', badge),
    cell('Last seen', seen),
    cell('Addresses', addresses),
    cell('RTT', rtt),
    cell('Link', link),
    cell('Rates',
      h('span', { class: 'rate' }, h('span', { 'aria-hidden': 'true', text: '↑ ' }), h('span', { class: 'visually-hidden', text: 'sending ' }), up),
      h('span', { class: 'rate' }, h('span', { 'aria-hidden': 'true', text: '↓ ' }), h('span', { class: 'visually-hidden', text: 'receiving ' }), down)));

  row.update = peer => {
    setText(name, peer.name || shortId(peer.id));
    revoked.hidden = !peer.revoked;
    setText(device, shortId(peer.id));
    device.title = peer.id;
    const status = peer.online ? 'online' : 'offline';
    setText(badge, status);
    badge.className = `badge status-${status}`;
    if (peer.online) {
      seen.dateTime = ''; // "now" is not a time to count up from
      seen.title = '';
      setText(seen, 'now');
    } else setTime(seen, peer.lastSeen);
    setText(addresses, peer.addresses.join('\n') || '–');
    setText(rtt, peer.rttMs == null ? '–' : `${Math.round(peer.rttMs)} ms`);
    setText(link, peer.online && peer.link ? peer.link : '–');
    setText(up, peer.online ? formatRate(peer.uploadRate) : '–');
    setText(down, peer.online ? formatRate(peer.downloadRate) : '–');
  };
  return row;
}
