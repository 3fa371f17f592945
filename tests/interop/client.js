// The tuf-js client: refresh from METADATA_URL, then download each TARGET into OUTDIR.
// usage: node client.js METADATA_URL TARGETS_URL TRUSTED_ROOT OUTDIR TARGET...
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Updater } = require('tuf-js');

async function main() {
  const [metadataBaseUrl, targetBaseUrl, trustedRoot, outDir, ...targets] = process.argv.slice(2);
  const metadataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tufjs-'));
  fs.copyFileSync(trustedRoot, path.join(metadataDir, 'root.json'));
  fs.mkdirSync(outDir, { recursive: true });
  const updater = new Updater({ metadataBaseUrl, targetBaseUrl, metadataDir, targetDir: outDir });
  await updater.refresh();
  for (const t of targets) {
    const info = await updater.getTargetInfo(t);
    if (!info) throw new Error('tuf-js: no target ' + t);
    await updater.downloadTarget(info, path.join(outDir, path.basename(t)));
    console.log('tuf-js verified ' + t);
  }
  fs.rmSync(metadataDir, { recursive: true, force: true });
}
main().catch((e) => { console.error('tuf-js: ' + e.message); process.exit(1); });
