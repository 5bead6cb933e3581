'use strict';
// Validates HAR files against HAR 1.2 with npm har-validator. Exit 0 when all are valid;
// otherwise prints each file's errors and exits 1.
//
//   node validate_har.js FILE...

const fs = require('fs');
const path = require('path');
const validator = require(path.join(__dirname, '..', '..', 'peers', 'node_modules',
                                    'har-validator'));

async function main() {
  let failed = 0;
  for (const file of process.argv.slice(2)) {
    try {
      await validator.har(JSON.parse(fs.readFileSync(file, 'utf8')));
      console.log('valid ' + file);
    } catch (e) {
      failed += 1;
      console.log('INVALID ' + file + ': ' + JSON.stringify(e.errors || String(e)));
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
