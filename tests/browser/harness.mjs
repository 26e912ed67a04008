// What the browser tests share: the build's programs started and stopped,
// checks counted and printed, a temporary directory removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const source = resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
export const bin = resolve(opt('--bin', join(source, 'build/bin')));
export const screenshot = opt('--screenshot', '');
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

export const dir = mkdtempSync(join(tmpdir(), 'flatcast-browser-'));
const children = [];
const logs = [];  // each started program's output, printed when a check fails
let failures = 0;

export function check(ok, what, detail = '') {
  if (ok) {
    console.log(`ok    ${what}`);
  } else {
    failures++;
    console.log(`FAIL  ${what}${detail ? `\n      ${detail}` : ''}`);
  }
}

export function start(name, argv) {
  const log = [];
  const child = spawn(join(bin, name), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  children.push(child);
  logs.push({ name, log });
  return { child, log: () => log.join('') };
}

export function run(name, argv, input) {
  const r = spawnSync(join(bin, name), argv, { input, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export async function waitFor(what, condition, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Stops the programs (SIGTERM, then SIGKILL after 10 s) and waits for them
// before removing their directory, which they may still be writing.
async function cleanup() {
  await Promise.all(children.map((c) => new Promise((done) => {
    if (c.exitCode !== null || c.signalCode !== null) return done();
    const kill = setTimeout(() => c.kill('SIGKILL'), 10000);
    c.once('exit', () => { clearTimeout(kill); done(); });
    c.kill('SIGTERM');
  })));
  if (!process.env.FLATCAST_KEEP_TEST_DIRS) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    } catch (e) {
      console.log(`note: could not remove ${dir}: ${e.message}`);
    }
  }
}

// Runs the test's `main`, then stops the programs and exits 0 when every
// check held.
export function runMain(main) {
  main()
    .catch((e) => {
      failures++;
      console.log(`FAIL  ${e.stack || e}`);
    })
    .finally(async () => {
      if (failures) {
        for (const { name, log } of logs) console.log(`--- ${name} log ---\n${log.join('')}`);
      }
      await cleanup();
      console.log(failures ? `${failures} checks failed` : 'all checks passed');
      process.exit(failures ? 1 : 0);
    });
}
