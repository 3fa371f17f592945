// Writes a TUF repository with @tufjs/models (not mitigd's code): root, timestamp, snapshot,
// targets delegating "mitigations/*" to a "mitigations" role, with consistent snapshots.
// usage: node make_repo.js OUTDIR KEYTYPE(ed25519|ecdsa|rsa) MANIFEST...
// CONSISTENT=0 in the environment writes a repository without consistent snapshots; SUCCINCT=1
// delegates with TAP 15 succinct hashed bins (bins computed by @tufjs/models, not by mitigd).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Metadata, Root, Timestamp, Snapshot, Targets, Signature } = require('@tufjs/models');
const { canonicalize } = require('@tufjs/canonical-json');
const { SuccinctRoles } = require('@tufjs/models/dist/role');

const [outDir, keyType, ...manifests] = process.argv.slice(2);
const consistent = process.env.CONSISTENT !== '0';
const versioned = (v, name) => (consistent ? `${v}.${name}` : name);

function newKey(type) {
  let pub, priv, keyval, keytype, scheme, sign;
  if (type === 'ed25519') {
    ({ publicKey: pub, privateKey: priv } = crypto.generateKeyPairSync('ed25519'));
    keyval = pub.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
    keytype = 'ed25519'; scheme = 'ed25519';
    sign = (data) => crypto.sign(null, data, priv);
  } else if (type === 'ecdsa') {
    ({ publicKey: pub, privateKey: priv } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    keyval = pub.export({ format: 'pem', type: 'spki' });
    keytype = 'ecdsa'; scheme = 'ecdsa-sha2-nistp256';
    sign = (data) => crypto.sign('sha256', data, priv);
  } else if (type === 'rsa') {
    ({ publicKey: pub, privateKey: priv } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }));
    keyval = pub.export({ format: 'pem', type: 'spki' });
    keytype = 'rsa'; scheme = 'rsassa-pss-sha256';
    sign = (data) => crypto.sign('sha256', data, { key: priv, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  } else {
    throw new Error('unknown key type ' + type);
  }
  const json = { keytype, scheme, keyval: { public: keyval } };
  const keyid = crypto.createHash('sha256').update(canonicalize(json)).digest('hex');
  return { keyid, json, signer: (data) => new Signature({ keyID: keyid, sig: sign(data).toString('hex') }) };
}

const expires = new Date(Date.now() + 7 * 86400 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const keys = {};
for (const role of ['root', 'timestamp', 'snapshot', 'targets', 'mitigations']) keys[role] = newKey(keyType);
const meta = path.join(outDir, 'metadata');
const tgt = path.join(outDir, 'targets', 'mitigations');
fs.mkdirSync(meta, { recursive: true });
fs.mkdirSync(tgt, { recursive: true });

function write(name, md) { fs.writeFileSync(path.join(meta, name), JSON.stringify(md.toJSON())); }
function signed(type, obj, signer) {
  const md = Metadata.fromJSON(type, { signed: obj, signatures: [] });
  md.sign(signer);
  return md;
}

const rootKeys = {};
const roles = {};
for (const r of ['root', 'timestamp', 'snapshot', 'targets']) {
  rootKeys[keys[r].keyid] = keys[r].json;
  roles[r] = { keyids: [keys[r].keyid], threshold: 1 };
}
const root = signed('root', { _type: 'root', spec_version: '1.0.31', version: 1, expires, consistent_snapshot: consistent,
  keys: rootKeys, roles }, keys.root.signer);
write('1.root.json', root);
write('root.json', root);

const targetEntries = {};
for (const m of manifests) {
  const bytes = fs.readFileSync(m);
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  const name = path.basename(m);
  targetEntries['mitigations/' + name] = { length: bytes.length, hashes: { sha256: sha } };
  fs.writeFileSync(path.join(tgt, consistent ? `${sha}.${name}` : name), bytes);
}
const succinct = process.env.SUCCINCT === '1';
const snapshotMeta = { 'targets.json': { version: 1 } };
let delegations;
if (succinct) {
  const bins = new SuccinctRoles({ keyIDs: [keys.mitigations.keyid], threshold: 1, bitLength: 4, namePrefix: 'mitigations' });
  const byBin = {};
  for (const [p, info] of Object.entries(targetEntries)) {
    const bin = bins.getRoleForTarget(p);
    (byBin[bin] = byBin[bin] || {})[p] = info;
  }
  for (const [bin, entries] of Object.entries(byBin)) {
    write(versioned(1, `${bin}.json`), signed('targets', { _type: 'targets', spec_version: '1.0.31', version: 1, expires,
      targets: entries }, keys.mitigations.signer));
    snapshotMeta[`${bin}.json`] = { version: 1 };
  }
  delegations = { keys: { [keys.mitigations.keyid]: keys.mitigations.json },
    succinct_roles: { keyids: [keys.mitigations.keyid], threshold: 1, bit_length: 4, name_prefix: 'mitigations' } };
} else {
  const mitigations = signed('targets', { _type: 'targets', spec_version: '1.0.31', version: 1, expires,
    targets: targetEntries }, keys.mitigations.signer);
  write(versioned(1, 'mitigations.json'), mitigations);
  snapshotMeta['mitigations.json'] = { version: 1 };
  delegations = { keys: { [keys.mitigations.keyid]: keys.mitigations.json },
    roles: [{ name: 'mitigations', keyids: [keys.mitigations.keyid], threshold: 1, terminating: true,
      paths: ['mitigations/*'] }] };
}
const targets = signed('targets', { _type: 'targets', spec_version: '1.0.31', version: 1, expires, targets: {},
  delegations }, keys.targets.signer);
write(versioned(1, 'targets.json'), targets);
const snapshot = signed('snapshot', { _type: 'snapshot', spec_version: '1.0.31', version: 1, expires,
  meta: snapshotMeta }, keys.snapshot.signer);
write(versioned(1, 'snapshot.json'), snapshot);
const snapBytes = fs.readFileSync(path.join(meta, versioned(1, 'snapshot.json')));
const timestamp = signed('timestamp', { _type: 'timestamp', spec_version: '1.0.31', version: 1, expires,
  meta: { 'snapshot.json': { version: 1, length: snapBytes.length,
    hashes: { sha256: crypto.createHash('sha256').update(snapBytes).digest('hex') } } } }, keys.timestamp.signer);
write('timestamp.json', timestamp);
