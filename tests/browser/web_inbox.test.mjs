// The web inbox in a real browser: a broker and a terminal daemon with its
// web inbox, started from the build, and Debian's headless Chromium driven by
// playwright-core. A wrong password is refused; a directive published at the
// broker appears without a reload, its status unmistakable; confirm, ready,
// rate and the return form work by clicking, and the audit CLI shows them;
// a POST from another origin changes nothing; the English switch works.
//
//   node tests/browser/web_inbox.test.mjs --bin build/bin [--screenshot docs/images/web-inbox.png]
//
// Exit status 0 when every check holds; each failed check is printed.
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  check, chromiumPath, dir, run, runMain, screenshot, source, start, waitFor,
} from './harness.mjs';

const unit = '520102016001';  // 纪念塔社区, 新华路街道, 南明区, 贵阳市
const password = 'office-password-2026';

async function main() {
  const broker = start('flatcast-broker', [
    '--init', '--data-dir', join(dir, 'broker'), '--registry',
    join(source, 'configs/registry/guizhou-52.tsv'), '--endpoint', 'tcp://127.0.0.1:0',
    '--endpoint-file', join(dir, 'endpoint')]);
  const endpoint = await waitFor('the broker', () =>
    existsSync(join(dir, 'endpoint')) && readFileSync(join(dir, 'endpoint'), 'utf8').trim());
  const state = join(dir, 'terminal');
  mkdirSync(state);
  const short = run('flatcast-subscriber', ['web-password', '--state-dir', state], 'short\n');
  check(short.code !== 0 && short.err.includes('too short'), 'a short password is refused', short.err);
  const set = run('flatcast-subscriber', ['web-password', '--state-dir', state], password + '\n');
  check(set.code === 0, 'the password is set', set.err);
  const daemon = start('flatcast-subscriber', [
    'run', '--unit', unit, '--broker', endpoint, '--state-dir', state, '--web', '127.0.0.1:0',
    '--web-root', join(source, 'subscriber/web')]);
  const url = await waitFor('the web inbox', () => {
    const m = daemon.log().match(/web inbox on (http:\/\/[0-9.:]+)/);
    return m && m[1];
  });
  await waitFor('the broker\'s welcome', () => daemon.log().includes('welcomed'));

  const browser = await chromium.launch({
    executablePath: chromiumPath, headless: true, args: ['--no-sandbox'],
  });
  const page = await browser.newPage({ locale: 'zh-CN', viewport: { width: 1100, height: 1400 } });
  // The page's requests, for the report of a failed step: those never
  // answered and those that failed.
  const started = Date.now();
  const unanswered = new Map();
  const failedRequests = [];
  const label = (r) => `${r.method()} ${new URL(r.url()).pathname}`;
  page.on('request', (r) => unanswered.set(r, Date.now() - started));
  page.on('requestfinished', (r) => unanswered.delete(r));
  page.on('requestfailed', (r) => {
    unanswered.delete(r);
    failedRequests.push(`${label(r)}: ${r.failure() ? r.failure().errorText : ''}`);
  });
  try {
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('#login:not([hidden])');
    check(await page.textContent('h1 [data-t=title]') === '指令收件箱', 'the page is in Chinese first');

    await page.fill('#password', 'not the password');
    await page.click('#login-form button');
    await page.waitForFunction(() => document.getElementById('login-error').textContent !== '');
    check((await page.textContent('#login-error')).includes('wrong password'),
      'a wrong password is refused with a message', await page.textContent('#login-error'));

    await page.fill('#password', password);
    await page.click('#login-form button');
    await page.waitForSelector('#inbox:not([hidden])');
    await page.waitForSelector('#link.up');
    check(true, 'logged in; the daemon reports the broker connected');

    // Published at the broker: appears without a reload (the event stream).
    // It carries a PDF, which the daemon fetches after it and the page links.
    const pdf = join(dir, '物资清单.pdf');
    writeFileSync(pdf, '%PDF-1.7\n' + 'x'.repeat(300000));
    const published = run('flatcast-publisher', [
      '--broker', endpoint, '--json', 'publish', '--issuer', '52', '--department', 'HEALTH',
      '--title', '社区物资储备填报（演练）', '--body', '请清点口罩、消毒液库存并填报。',
      '--status', 'exercise', '--action', '清点物资并填报|community', '--action', '汇总各社区|street',
      '--scope', '520102016', '--tiers', 'street,community', '--deadline', 'ready=2h',
      '--translation', 'en|Supplies return (exercise)|Count masks and disinfectant and report.|Count and report|Sum up the communities',
      '--form', join(source, 'configs/forms/supplies.toml'), '--attach', pdf]);
    check(published.code === 0, 'the directive is published', published.err);
    const id = JSON.parse(published.out).id;
    const card = `article[data-id="${id}"]`;
    await page.waitForSelector(card, { timeout: 30000 });
    check(true, 'the directive appears without a reload');
    check(await page.getAttribute(card, 'data-status') === 'exercise' &&
          (await page.textContent(`${card} .status`)).includes('演练'),
      'its EXERCISE status is shown', await page.textContent(`${card} .status`));
    check(await page.isVisible(`${card} .unread-mark`), 'it is marked unread');
    check((await page.textContent(`${card} .mine`)).includes('清点物资并填报'),
      'the action item for this tier is marked');
    check((await page.textContent(card)).includes('就绪'), 'the deadline is listed');
    check((await page.textContent(`${card} .signature`)).includes('无签名') ||
          (await page.textContent(`${card} .signature`)).includes('签名密钥'),
      'the signature line is shown');
    // The directive's other language, folded under the text: open it.
    await page.click(`${card} details.languages summary`);
    const english = await page.textContent(`${card} section[lang="en"]`);
    check(english.includes('Supplies return (exercise)') && english.includes('Count and report'),
      'its English text is there, folded', english);
    // The attached document: a link once the terminal has fetched and checked it.
    await page.waitForSelector(`${card} ul.attachments a[download]`, { timeout: 30000 });
    check(await page.textContent(`${card} ul.attachments a[download]`) === '物资清单.pdf',
      'the attached document is linked by its name');
    const download = await page.evaluate(async (sel) => {
      const r = await fetch(document.querySelector(sel).getAttribute('href'));
      return { status: r.status, type: r.headers.get('content-type'), size: (await r.arrayBuffer()).byteLength };
    }, `${card} ul.attachments a[download]`);
    check(download.status === 200 && download.type === 'application/pdf' && download.size === 300009,
      'the link serves the document as fetched', JSON.stringify(download));

    // Another origin cannot act for the unit (CSRF): nothing changes.
    const other = await browser.newPage();
    await other.goto('about:blank');
    const crossSite = await other.evaluate(async ([u, i]) => {
      try {
        await fetch(`${u}/api/directives/${i}/confirm`, {
          method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}',
          headers: { 'Content-Type': 'text/plain' },
        });
        return 'sent';
      } catch (e) {
        return 'blocked';
      }
    }, [url, id]);
    await other.close();
    // The daemon records an action before the listener answers: once the
    // request has ended, the terminal's own state says whether it did.
    const acks = await page.evaluate(async (i) =>
      (await (await fetch('/api/inbox')).json()).directives.find((d) => d.id === i).acks, id);
    check(acks.confirmed === '' && acks.ready === '',
      `a POST from another origin (${crossSite}) confirms nothing`, JSON.stringify(acks));
    const audit = (argv) => run('flatcast-audit', ['--broker', endpoint, ...argv, '--format', 'json']);
    const history = () => JSON.parse(audit(['unit', unit]).out).rows.find((r) => r.id === id || r.directive_id === id) || JSON.parse(audit(['unit', unit]).out).rows[0];

    // Confirm, then ready with a note: the broker confirms both.
    await page.click(`${card} button.confirm`);
    await page.waitForSelector(`${card} [data-ack=confirmed][data-state=confirmed]`, { timeout: 30000 });
    check(true, 'confirm by clicking: confirmed by the broker');
    check(!(await page.isVisible(`${card} .unread-mark`)), 'no longer unread');
    await page.fill(`${card} input[name=note]`, '值班 2 人，口罩 120 个');
    await page.click(`${card} button.ready`);
    await page.waitForSelector(`${card} [data-ack=ready][data-state=confirmed]`, { timeout: 30000 });
    check(true, 'ready by clicking: confirmed by the broker');

    // Rate.
    await page.click(`${card} details.rate-box summary`);
    await page.selectOption(`${card} select[name=clarity]`, '4');
    await page.selectOption(`${card} select[name=feasibility]`, '2');
    await page.fill(`${card} input[name=comment]`, '消毒液两天内无法到位');
    await page.click(`${card} form.rating button[type=submit]`);
    await page.waitForSelector(`${card} [data-rating=confirmed]`, { timeout: 30000 });
    check(true, 'rate by clicking: confirmed by the broker');

    // The return form: a value out of its limits is refused with the reason,
    // then an answer, confirmed.
    // Past the browser's own check of the limit, as an old browser or a
    // hand-made request would be: the daemon refuses it. Filled and sent in
    // one step, so that a refresh of the inbox (the rating's confirmation
    // arrives on the event stream) cannot replace the form in between.
    await page.$eval(`${card} form.return-form`, (f) => {
      const set = (name, value) => { f.querySelector(`[name=${name}]`).value = value; };
      set('masks', '2000000');
      set('disinfectant', '15');
      set('staff_on_duty', '2');
      set('thermometers_ok', 'yes');
      set('risk', '中');
      f.noValidate = true;
      f.requestSubmit();
    });
    await page.waitForFunction(() => document.getElementById('notice').classList.contains('error'));
    const refusal = await page.textContent('#notice');
    check(refusal.includes('masks') && refusal.includes('1000000'),
      'an answer beyond the field\'s limit is refused, saying why', refusal);
    await page.fill(`${card} input[name=masks]`, '120');
    await page.click(`${card} form.return-form button[type=submit]`);
    await page.waitForSelector(`${card} [data-answer=confirmed]`, { timeout: 30000 });
    check(true, 'the return form by clicking: confirmed by the broker');

    // The audit CLI shows what was done on the page.
    const row = history();
    check(row.confirmed !== '' && row.ready !== '' && row.rating === '4/2',
      'flatcast-audit unit shows confirmed, ready and the rating 4/2', JSON.stringify(row));
    const returns = JSON.parse(audit(['returns', id, '--region', '520102016001']).out);
    const total = returns.rows[returns.rows.length - 1];
    check(total.answered === 1 && total.masks_sum === 120 && total.disinfectant_below === 1,
      'flatcast-audit returns sums the answer (masks 120, disinfectant below 20)', JSON.stringify(total));

    // An actual directive for the public: held 12 hours, the page counts down.
    const actual = run('flatcast-publisher', [
      '--broker', endpoint, '--json', 'publish', '--issuer', '52', '--department', 'HEALTH',
      '--title', '关于加强社区疫情防控的通知', '--body', '各社区于今日 18 时前完成出入口值守排班。',
      '--action', '完成出入口值守排班|community', '--scope', '5201', '--tiers', 'community',
      '--public']);
    check(actual.code === 0, 'a public directive is published', actual.err);
    const actualCard = `article[data-id="${JSON.parse(actual.out).id}"]`;
    await page.waitForSelector(actualCard, { timeout: 30000 });
    const publicLine = await page.textContent(`${actualCard} .public`);
    check(publicLine.includes('公开发布') && /还有 1[12]小时/.test(publicLine),
      'its public release and the time left are shown', publicLine);
    check((await page.textContent(`${actualCard} .status`)).includes('实战'), 'its ACTUAL status is shown');
    check((await page.$$('article')).length === 2 &&
          await page.getAttribute('article:first-of-type', 'data-id') === JSON.parse(actual.out).id,
      'newest first');

    // English.
    await page.click('#lang');
    check(await page.textContent('h1 [data-t=title]') === 'Directive inbox' &&
          (await page.textContent(`${card} .status`)).includes('EXERCISE'),
      'the English switch translates the interface');
    await page.click('#lang');
    if (screenshot) {
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`screenshot: ${screenshot}`);
    }
    check(consoleErrors.length === 0, 'no script errors on the page', consoleErrors.join('; '));

    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    const after = await page.evaluate(async () => (await fetch('/api/inbox')).status);
    check(after === 401, 'after logging out the inbox asks for a login', String(after));
  } catch (e) {
    // Where the page stood when a step timed out: its notice and cards.
    check(false, String(e.stack || e));
    const state = await page.evaluate(() => [document.getElementById('notice').outerHTML,
      ...[...document.querySelectorAll('article[data-id]')].map((a) => a.innerText)].join('\n'))
      .catch((err) => `(the page could not be read: ${err.message})`);
    console.log(`--- the page ---\n${state}`);
    console.log(`--- requests not answered (ms after start) ---\n${[...unanswered].map(([r, t]) => `${label(r)} at ${t}`).join('\n')}`);
    console.log(`--- requests failed ---\n${failedRequests.join('\n')}`);
    console.log(`--- failed at ${Date.now() - started} ms ---`);
  } finally {
    await browser.close();
  }
}

runMain(main);
