// An Eclipse Tahu edge node (sparkplug-client) for Metronome's interop test.
// argv: serverUrl group node. It publishes NBIRTH on every connection and on
// a rebirth command, then one NDATA with new values, and prints "birth" and
// "data" lines as it goes. It exits on stdin end.
'use strict';
const sparkplug = require('sparkplug-client');
const Long = require('long');
const [url, group, node] = process.argv.slice(2);

const client = sparkplug.newClient({
  serverUrl: url, username: null, password: null, groupId: group, edgeNode: node,
  clientId: 'tahu-' + node + '-' + process.pid, version: 'spBv1.0', keepalive: 5,
});

function birth() {
  client.publishNodeBirth({
    timestamp: Date.now(),
    metrics: [
      { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
      { name: 'T/i32', alias: 1, type: 'Int32', value: -7, timestamp: 1700000000123 },
      { name: 'T/i64', alias: 2, type: 'Int64', value: Long.fromString('-1234567890123'), timestamp: 1700000000123 },
      { name: 'T/u32', alias: 3, type: 'UInt32', value: 4000000000, timestamp: 1700000000123 },
      { name: 'T/u64', alias: 4, type: 'UInt64', value: Long.fromString('18446744073709551615', true), timestamp: 1700000000123 },
      { name: 'T/f', alias: 5, type: 'Float', value: 1.5, timestamp: 1700000000123 },
      { name: 'T/d', alias: 6, type: 'Double', value: 0.1, timestamp: 1700000000123 },
      { name: 'T/b', alias: 7, type: 'Boolean', value: true, timestamp: 1700000000123 },
      { name: 'T/s', alias: 8, type: 'String', value: 'héllo', timestamp: 1700000000123 },
      { name: 'T/stale', alias: 9, type: 'Double', value: 2.5, timestamp: 1700000000123,
        properties: { Quality: { type: 'Int32', value: 500 } } },
      { name: 'T/null', alias: 10, type: 'Int64', value: null, isNull: true, timestamp: 1700000000123 },
    ],
  });
  console.log('birth');
  setTimeout(() => {
    client.publishNodeData({
      timestamp: Date.now(),
      metrics: [
        { alias: 1, type: 'Int32', value: -8, timestamp: 1700000000456 },
        { alias: 6, type: 'Double', value: 1e300, timestamp: 1700000000456 },
      ],
    });
    console.log('data');
  }, 200);
}

client.on('birth', birth);
client.on('ncmd', (payload) => {
  for (const m of payload.metrics || []) {
    if (m.name === 'Node Control/Rebirth' && m.value) birth();
  }
});
client.on('error', (e) => console.error('error', e && e.message));
process.stdin.on('end', () => { client.stop(); process.exit(0); });
process.stdin.resume();
