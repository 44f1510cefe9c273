// End-to-end test app: a Spin HTTP component written with the Spin JS SDK
// (@spinframework/build-tools 1.x + wasi-http-proxy 1.x, the Spin 3.6 template's packages).
// The Rust and Python apps next to this one answer the same paths with the same bodies.
import { Store } from 'fermyon:spin/key-value@2.0.0';
import { get as getVariable } from 'fermyon:spin/variables@2.0.0';
import { Connection } from 'fermyon:spin/sqlite@2.0.0';

const SDK = 'js';
const DENIED_URL = 'http://denied.example.invalid/';

// A failed host call throws an error whose `payload` is the WIT error value,
// e.g. {"tag":"access-denied"}; other errors (fetch's TypeError) are shown as strings.
function describe(err) {
  if (err && err.payload !== undefined) {
    return JSON.stringify(err.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  }
  return String(err);
}

function text(body, status = 200) {
  return new Response(body, { status, headers: { 'content-type': 'text/plain' } });
}

function countHit() {
  const store = Store.open('default');
  const raw = store.get('hits');
  const hits = (raw == null ? 0 : parseInt(new TextDecoder().decode(raw), 10)) + 1;
  store.set('hits', new TextEncoder().encode(String(hits)));
  return `hits=${hits}`;
}

async function outbound() {
  const url = getVariable('upstream_url');
  let resp;
  try {
    resp = await fetch(url);
  } catch (err) {
    return text(`upstream error: ${describe(err)}`, 502);
  }
  const body = await resp.text();
  return text(`upstream ${resp.status} ${body}`);
}

async function deniedHost() {
  try {
    const resp = await fetch(DENIED_URL);
    await resp.arrayBuffer();
    return 'not denied';
  } catch (err) {
    return `denied: ${describe(err)}`;
  }
}

function deniedStore() {
  try {
    Store.open('forbidden');
    return 'not denied';
  } catch (err) {
    return `denied: ${describe(err)}`;
  }
}

function sqlite() {
  const db = Connection.open('default');
  db.execute(
    'CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)',
    [],
  );
  db.execute('INSERT INTO visits (note) VALUES (?)', [{ tag: 'text', val: 'visit' }]);
  const result = db.execute('SELECT COUNT(*) AS n, MAX(note) AS last FROM visits', []);
  const row = result.rows[0].values;
  const column = (name) => row[result.columns.indexOf(name)];
  const n = column('n');
  const last = column('last');
  return `rows=${n.val} last=${last.tag === 'text' ? last.val : ''}`;
}

function spinHeaders(request) {
  return ['spin-full-url', 'spin-path-info', 'spin-matched-route']
    .map((name) => `${name}: ${request.headers.get(name) ?? ''}\n`)
    .join('');
}

async function handle(request) {
  switch (new URL(request.url).pathname) {
    case '/':
      return text(`hello from ${SDK}`);
    case '/kv':
      return text(countHit());
    case '/variable':
      return text(getVariable('greeting'));
    case '/outbound':
      return outbound();
    case '/denied-host':
      return text(await deniedHost());
    case '/denied-store':
      return text(deniedStore());
    case '/sqlite':
      return text(sqlite());
    case '/headers':
      return text(spinHeaders(request));
    default:
      return text('not found', 404);
  }
}

addEventListener('fetch', (event) => {
  event.respondWith(handle(event.request));
});
