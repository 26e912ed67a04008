// The public page in a real browser, as a resident reads it on a phone: a
// broker with a release key and a short lead, a public server fed by it,
// and Debian's headless Chromium (playwright-core) with JavaScript turned
// off. The page of a community shows the province's and the district's
// released directives, not another city's; the status and a cancellation
// are plain; nothing internal shows; it fits a phone's width; the region
// form leads to another region's page; an unknown region is a clear 400.
//
//   node tests/browser/public_page.test.mjs --bin build/bin [--screenshot docs/images/public-page.png]
//
// Exit status 0 when every check holds; each failed check is printed.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  check, chromiumPath, dir, run, runMain, screenshot, source, start, waitFor,
} from './harness.mjs';

const unit = '520102016001';  // 纪念塔社区, 新华路街道, 南明区, 贵阳市

function publish(endpoint, scope, title, extra = []) {
  const r = run('flatcast-publisher', [
    '--broker', endpoint, '--json', 'publish', '--issuer', '52', '--department', 'HEALTH',
    '--title', title, '--body', '乘坐公共交通请全程佩戴口罩。\n车站张贴告示。',
    '--action', '在车站张贴告示|community', '--scope', scope, '--tiers', 'street,community',
    '--public', '--note', '内部：预算科目 7', ...extra]);
  check(r.code === 0, `published "${title}"`, r.err);
  return r.code === 0 ? JSON.parse(r.out).id : '';
}

async function main() {
  const keys = run('flatcast-keys', ['generate', '--kind', 'signing', '--out', join(dir, 'release')]);
  check(keys.code === 0, 'a release key', keys.err);
  const broker = start('flatcast-broker', [
    '--init', '--data-dir', join(dir, 'broker'), '--registry',
    join(source, 'configs/registry/guizhou-52.tsv'), '--endpoint', 'tcp://127.0.0.1:0',
    '--endpoint-file', join(dir, 'endpoint'), '--public-lead-time', '1s',
    '--public-signing-key', join(dir, 'release.key'), '--heartbeat-interval', '1s']);
  const endpoint = await waitFor('the broker', () =>
    existsSync(join(dir, 'endpoint')) && readFileSync(join(dir, 'endpoint'), 'utf8').trim());
  const pub = start('flatcast-public', [
    '--broker', endpoint, '--data-dir', join(dir, 'public'), '--registry',
    join(source, 'configs/registry/guizhou-52.tsv'), '--listen', '127.0.0.1:0',
    '--listen-file', join(dir, 'public.url')]);
  const url = await waitFor('the public server', () =>
    existsSync(join(dir, 'public.url')) && readFileSync(join(dir, 'public.url'), 'utf8').trim());

  publish(endpoint, '52', '全省公共交通佩戴口罩');
  const nanming = publish(endpoint, '520102', '南明区公交站点消毒（演练）', ['--status', 'exercise']);
  publish(endpoint, '5203', '遵义市农贸市场管理');
  const cancelled = publish(endpoint, '520102016', '新华路街道集市暂停');
  await waitFor('the releases', async () => {
    const r = await fetch(`${url}/public/directives`);
    return r.ok && (await r.json()).directives.length === 4;
  });
  const cancel = run('flatcast-publisher', ['--broker', endpoint, 'cancel', cancelled,
    '--reason', '集市恢复']);
  check(cancel.code === 0, 'one is cancelled after its release', cancel.err);
  await waitFor('the cancellation', async () =>
    (await (await fetch(`${url}/public/directives`)).text()).includes('"msg_type":"Cancel"'));

  const browser = await chromium.launch({
    executablePath: chromiumPath, headless: true, args: ['--no-sandbox'],
  });
  try {
    const phone = await browser.newContext({
      javaScriptEnabled: false, locale: 'zh-CN', viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    const page = await phone.newPage();
    const response = await page.goto(`${url}/public/page?region=${unit}`);
    check(response.status() === 200, 'the community\'s page answers', String(response.status()));
    const text = await page.textContent('body');
    check(text.includes('纪念塔社区'), 'it names the community', text.slice(0, 200));
    check(text.includes('全省公共交通佩戴口罩') && text.includes('南明区公交站点消毒（演练）') &&
          text.includes('新华路街道集市暂停'),
      'it shows what was released for the province, the district and the street');
    check(!text.includes('遵义市农贸市场管理'), 'not another city\'s directive');
    check(!text.includes('预算科目'), 'nothing internal');
    check((await page.locator('article .badge.Exercise').count()) === 1,
      'the exercise is marked as one');
    check((await page.locator('article.is-cancelled .badge.cancelled').count()) === 1,
      'the cancellation is plain');
    const cap = await page.locator(`article >> nth=0 >> a:has-text("CAP")`).getAttribute('href');
    check(/^\/public\/directives\/52-HEALTH-\d{8}-P\d{4}\/cap\.xml$/.test(cap), 'each has its CAP link', cap);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 390, 'it fits a phone without sideways scrolling', String(wide));
    if (screenshot) {
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`screenshot: ${screenshot}`);
    }
    // The region form, without JavaScript: another region's page.
    await page.fill('input[name=region]', '5203');
    await Promise.all([page.waitForNavigation(), page.click('form button')]);
    const zunyi = await page.textContent('body');
    check(zunyi.includes('遵义市农贸市场管理') && !zunyi.includes('南明区公交站点消毒'),
      'the form leads to Zunyi\'s page, with Zunyi\'s directive only');
    const bad = await page.goto(`${url}/public/page?region=999999`);
    check(bad.status() === 400 && (await page.textContent('body')).includes('unknown region'),
      'an unknown region is a clear 400');
    await phone.close();
    void nanming;
  } finally {
    await browser.close();
  }
}

runMain(main);
