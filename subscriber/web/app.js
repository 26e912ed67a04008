// The flatcast web inbox (README, "The web inbox"): plain JavaScript, no
// framework, served by the terminal daemon. Every text from a directive is
// set with textContent, never parsed as HTML.
'use strict';

const TEXT = {
  zh: {
    title: '指令收件箱', logout: '退出', login_title: '登录', password: '密码', login: '登录',
    empty: '暂无指令。', connected: '已连接', disconnected: '未连接', daemon_down: '终端程序未运行',
    status_actual: '实战', status_exercise: '演练 — 非真实指令', status_test: '测试 — 请勿执行',
    unread: '未读', version: '第{0}版', issuer: '发布', sent: '发送时间',
    withdrawn: '已不再发送给本单位（修订后不含本单位）', cancelled: '已撤销',
    actions: '行动事项', for_you: '（本级）', due: '截止', deadlines: '回执期限',
    level_received: '接收', level_confirmed: '确认', level_ready: '就绪',
    public_at: '公开发布：{0}（还有 {1}）', public_now: '已公开发布（{0}）', internal: '仅内部，不公开',
    signature: '签名密钥 {0}', verified: '本终端已验证', unchecked: '本终端未配置密钥库，未校验',
    unsigned: '无签名', changes: '本版修改', other_languages: '其他语言（{0}）',
    attachments: '附件', fetching: '正在从服务器获取…', size_kb: '{0} KB',
    ack_received: '已接收', ack_confirmed: '已确认', ack_ready: '已就绪',
    ack_pending: '（等待服务器确认）', ack_done: '（服务器已确认）',
    confirm: '确认已读', ready: '已就绪', note: '就绪说明（人员、物资）', rate: '评价',
    clarity: '清晰度', feasibility: '可行性', comment: '意见（哪里行不通）', send_rating: '提交评价',
    rating_pending: '评价已记录，等待服务器确认', rating_done: '评价已被服务器确认',
    form: '填报表', submit_form: '提交填报', resubmit_form: '更正填报',
    answer_pending: '已填报（{0}），等待服务器确认', answer_done: '已填报（{0}），服务器已确认{1}',
    correction: '，第{0}次更正', not_answered: '尚未填报', required: '必填', yes: '是', no: '否',
    choose: '请选择', range: '{0} 至 {1}',
    overdue_title: '逾期未回执', overdue_own: '本单位：', overdue_children: '下级单位：',
    units: '{0} 个单位', wrong: '出错：', done_msg: '已记录：',
    pending_count: '待确认 {0} 项', storage_error: '无法保存指令：',
    minutes: '{0}分钟', hours: '{0}小时{1}分', days: '{0}天{1}小时', passed: '已过',
    tier_province: '省级', tier_city: '市级', tier_district: '区县级', tier_street: '街道级',
    tier_community: '社区级',
  },
  en: {
    title: 'Directive inbox', logout: 'Log out', login_title: 'Log in', password: 'Password',
    login: 'Log in', empty: 'No directives yet.', connected: 'connected',
    disconnected: 'not connected', daemon_down: 'terminal daemon not running',
    status_actual: 'ACTUAL', status_exercise: 'EXERCISE — not a real directive',
    status_test: 'TEST — do not act', unread: 'unread', version: 'version {0}',
    issuer: 'Issued by', sent: 'Sent', withdrawn: 'No longer addressed to this unit (amended)',
    cancelled: 'Cancelled', actions: 'Action items', for_you: ' (your tier)', due: 'due',
    deadlines: 'Acknowledgement deadlines', level_received: 'received',
    level_confirmed: 'confirmed', level_ready: 'ready',
    public_at: 'Public at {0} (in {1})', public_now: 'Public since {0}',
    internal: 'Internal only, never public', signature: 'Signed with key {0}',
    verified: 'verified by this terminal', unchecked: 'not checked (no key registry configured)',
    unsigned: 'unsigned', changes: 'Changed in this version', other_languages: 'Other languages ({0})',
    attachments: 'Attached documents', fetching: 'being fetched from the broker…', size_kb: '{0} KB',
    ack_received: 'received', ack_confirmed: 'confirmed', ack_ready: 'ready',
    ack_pending: ' (waiting for the broker)', ack_done: ' (confirmed by the broker)',
    confirm: 'Confirm read', ready: 'Ready', note: 'What is in place (staff, supplies)',
    rate: 'Rate', clarity: 'Clarity', feasibility: 'Feasibility',
    comment: 'Comment (what does not work)', send_rating: 'Send rating',
    rating_pending: 'Rating recorded, waiting for the broker',
    rating_done: 'Rating confirmed by the broker', form: 'Return form',
    submit_form: 'Submit', resubmit_form: 'Correct the answer',
    answer_pending: 'Answered ({0}), waiting for the broker',
    answer_done: 'Answered ({0}), confirmed by the broker{1}', correction: ', correction {0}',
    not_answered: 'Not answered yet', required: 'required', yes: 'yes', no: 'no',
    choose: 'choose', range: '{0} to {1}', overdue_title: 'Overdue acknowledgements',
    overdue_own: 'This unit:', overdue_children: 'Units below:', units: '{0} units',
    wrong: 'Error: ', done_msg: 'Recorded: ', pending_count: '{0} pending',
    storage_error: 'Cannot store directives: ', minutes: '{0} min', hours: '{0} h {1} min',
    days: '{0} d {1} h', passed: 'passed', tier_province: 'province', tier_city: 'city',
    tier_district: 'district', tier_street: 'street', tier_community: 'community',
  },
};

let lang = localStorage.getItem('flatcast-lang') === 'en' ? 'en' : 'zh';
let skew = 0;  // the daemon's clock minus the browser's, in ms
let last = null;  // the last /api/inbox answer
let events = null;
const open = new Set();  // directives whose forms are unfolded, kept across refreshes

function t(key, ...args) {
  let s = (TEXT[lang][key] ?? TEXT.zh[key] ?? key);
  args.forEach((a, i) => { s = s.replace(`{${i}}`, a); });
  return s;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function local(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
}

function left(iso) {
  const ms = new Date(iso).getTime() - (Date.now() + skew);
  if (ms <= 0) return t('passed');
  const min = Math.floor(ms / 60000);
  if (min < 60) return t('minutes', min);
  if (min < 24 * 60) return t('hours', Math.floor(min / 60), min % 60);
  return t('days', Math.floor(min / 1440), Math.floor((min % 1440) / 60));
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  };
  const res = await fetch(path, { credentials: 'same-origin', ...init });
  let data = {};
  try { data = await res.json(); } catch (e) { data = { error: res.statusText }; }
  if (!res.ok) {
    const err = new Error(data.error || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function notice(text, isError) {
  const n = document.getElementById('notice');
  n.textContent = text;
  n.className = isError ? 'notice error' : 'notice';
}

function translateStatic() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-t]').forEach((e) => { e.textContent = t(e.dataset.t); });
  document.getElementById('lang').textContent = lang === 'zh' ? 'English' : '中文';
  document.title = 'flatcast ' + t('title');
}

function ackLine(d) {
  const line = el('p', { class: 'acks' });
  for (const level of ['received', 'confirmed', 'ready']) {
    const state = d.acks[level];
    if (!state) continue;
    line.append(el('span', { class: state === 'pending' ? 'pending' : 'done',
      'data-ack': level, 'data-state': state,
      text: t('ack_' + level) + t(state === 'pending' ? 'ack_pending' : 'ack_done') }));
  }
  return line;
}

// The notice tells how the latest action went: an earlier one whose answer
// comes later (a slow connection) does not cover it.
let actions = 0;
async function act(d, action, body, button) {
  if (button) button.disabled = true;
  const mine = ++actions;
  try {
    const r = await api(`/api/directives/${encodeURIComponent(d.id)}/${action}`, body);
    if (mine === actions) notice(t('done_msg') + r.message);
    await refresh();
  } catch (e) {
    if (mine === actions) notice(t('wrong') + e.message, true);
    if (e.status === 401) showLogin();
  } finally {
    if (button) button.disabled = false;
  }
}

function ratingForm(d) {
  const select = (name) => {
    const s = el('select', { name });
    for (let i = 1; i <= 5; i++) s.append(el('option', { value: i, text: String(i) }));
    s.value = '3';
    return s;
  };
  const clarity = select('clarity');
  const feasibility = select('feasibility');
  const comment = el('input', { name: 'comment', maxlength: 1000, size: 40 });
  const send = el('button', { type: 'submit', text: t('send_rating') });
  const form = el('form', { class: 'rating', onsubmit: (ev) => {
    ev.preventDefault();
    act(d, 'rate', { clarity: Number(clarity.value), feasibility: Number(feasibility.value),
      comment: comment.value }, send);
  } },
  el('fieldset', {}, el('legend', { text: t('rate') }),
    el('label', {}, t('clarity') + ' ', clarity),
    el('label', {}, t('feasibility') + ' ', feasibility),
    el('label', {}, t('comment') + ' ', comment), send));
  if (d.rating) {
    form.append(el('p', { class: d.rating.state === 'pending' ? 'pending' : 'done',
      'data-rating': d.rating.state,
      text: t(d.rating.state === 'pending' ? 'rating_pending' : 'rating_done') }));
  }
  return form;
}

function returnForm(d) {
  const fields = (d.form && d.form.fields) || [];
  const inputs = {};
  const fs = el('fieldset', {}, el('legend', { text: t('form') }));
  const answered = (d.answer && d.answer.values) || {};
  for (const f of fields) {
    let input;
    const kind = f.kind;
    if (kind === 'QUANTITY') {
      input = el('input', { type: 'number', step: 1, min: f.min ?? 0, max: f.max ?? undefined });
    } else if (kind === 'CHOICE') {
      input = el('select', {}, el('option', { value: '', text: t('choose') }));
      for (const c of f.choices || []) input.append(el('option', { value: c, text: c }));
    } else if (kind === 'YES_NO') {
      input = el('select', {}, el('option', { value: '', text: t('choose') }),
        el('option', { value: 'yes', text: t('yes') }), el('option', { value: 'no', text: t('no') }));
    } else {
      input = el('input', { type: 'text', maxlength: f.max_length || 1000, size: 40 });
    }
    input.name = f.key;
    input.dataset.key = 'form:' + f.key;  // apart from the page's own note and comment
    if (f.required) input.required = true;
    inputs[f.key] = input;
    const hint = [];
    if (kind === 'QUANTITY') hint.push(t('range', f.min ?? 0, f.max ?? '') + ' ' + (f.unit || ''));
    if (f.required) hint.push(t('required'));
    fs.append(el('label', {}, f.label + (hint.length ? ` (${hint.join(', ')})` : '') + ' ', input,
      answered[f.key] !== undefined ? el('span', { class: 'meta', text: ' = ' + answered[f.key] }) : null));
  }
  const submit = el('button', { type: 'submit', class: 'primary',
    text: t(d.answer ? 'resubmit_form' : 'submit_form') });
  fs.append(submit);
  const form = el('form', { class: 'return-form', onsubmit: (ev) => {
    ev.preventDefault();
    const values = {};
    for (const [key, input] of Object.entries(inputs)) values[key] = input.value.trim();
    act(d, 'return', { fields: values }, submit);
  } }, fs);
  let state;
  if (!d.answer) state = el('p', { class: 'pending', 'data-answer': 'none', text: t('not_answered') });
  else if (d.answer.state === 'pending') {
    state = el('p', { class: 'pending', 'data-answer': 'pending', text: t('answer_pending', local(d.answer.answered)) });
  } else {
    const corr = d.answer.revision > 1 ? t('correction', d.answer.revision - 1) : '';
    state = el('p', { class: 'done', 'data-answer': 'confirmed', text: t('answer_done', local(d.answer.answered), corr) });
  }
  form.append(state);
  return form;
}

function card(d, tier, signaturesChecked) {
  const c = el('article', { class: 'card' + (d.unread ? ' unread' : ''), 'data-id': d.id,
    'data-status': d.status });
  c.append(el('div', { class: 'status ' + d.status, text: t('status_' + d.status) }));
  const inner = el('div', { class: 'inner' });
  c.append(inner);
  const h = el('h2', { lang: d.language }, d.title);
  if (d.unread) h.append(el('span', { class: 'unread-mark', text: '● ' + t('unread') }));
  inner.append(h);
  inner.append(el('p', { class: 'meta', text:
    `${d.id} · ${t('version', d.version)} · ${t('issuer')} ${d.issuer_unit} ${d.issuer_department} · ${t('sent')} ${local(d.sent)}` }));
  if (d.withdrawn) inner.append(el('p', { class: 'withdrawn', text: t('withdrawn') }));
  if (d.cancelled) inner.append(el('p', { class: 'cancelled', text: t('cancelled') }));
  inner.append(el('div', { class: 'body', lang: d.language, text: d.body }));
  // The same directive in the other languages it carries, folded.
  if (d.other_languages && d.other_languages.length) {
    const box = el('details', { class: 'languages' },
      el('summary', { text: t('other_languages', d.other_languages.map((o) => o.language).join(', ')) }));
    for (const o of d.other_languages) {
      const section = el('section', { lang: o.language, 'data-language': o.language },
        el('h3', { text: o.title }), el('div', { class: 'body', text: o.body }));
      if (o.actions.length) {
        const ol = el('ol');
        o.actions.forEach((a) => ol.append(el('li', { text: a })));
        section.append(ol);
      }
      box.append(section);
    }
    if (open.has(d.id + ':languages')) box.open = true;
    box.addEventListener('toggle', () => (box.open ? open.add(d.id + ':languages') : open.delete(d.id + ':languages')));
    inner.append(box);
  }
  // Attached documents: a download once the terminal has fetched and checked one.
  if (d.attachments && d.attachments.length) {
    const ul = el('ul', { class: 'facts attachments' });
    for (const a of d.attachments) {
      const size = t('size_kb', Math.max(1, Math.round(a.size / 1024)));
      const li = el('li', { 'data-sha256': a.sha256 });
      if (a.url) {
        li.append(el('a', { href: a.url, download: a.name, text: a.name }), ` (${size})`);
      } else {
        li.append(a.name + ` (${size}) — `, el('span', { class: 'pending', text: t('fetching') }));
      }
      ul.append(li);
    }
    inner.append(el('p', { text: t('attachments') }), ul);
  }
  if (d.changes.length) {
    const ul = el('ul', { class: 'facts' });
    d.changes.forEach((ch) => ul.append(el('li', { text: ch })));
    inner.append(el('p', { text: t('changes') }), ul);
  }
  if (d.actions.length) {
    const ul = el('ul', { class: 'facts' });
    for (const a of d.actions) {
      const text = a.what + (a.mine ? t('for_you') : ` (${t('tier_' + a.tier)})`) + (a.due ? ` — ${t('due')} ${local(a.due)}` : '');
      ul.append(el('li', { class: a.mine ? 'mine' : '', text }));
    }
    inner.append(el('p', { text: t('actions') }), ul);
  }
  if (d.deadlines.length) {
    const ul = el('ul', { class: 'facts' });
    for (const dl of d.deadlines) {
      ul.append(el('li', { text: `${t('level_' + dl.level)}: ${local(dl.at)} (${left(dl.at)})` }));
    }
    inner.append(el('p', { text: t('deadlines') }), ul);
  }
  let pub;
  if (!d.is_public) pub = t('internal');
  else if (d.public_release && new Date(d.public_release).getTime() > Date.now() + skew) {
    pub = t('public_at', local(d.public_release), left(d.public_release));
  } else pub = t('public_now', d.public_release ? local(d.public_release) : '');
  inner.append(el('p', { class: 'meta public', text: pub }));
  inner.append(el('p', { class: 'meta signature', text: d.signature_key
    ? `${t('signature', d.signature_key)} — ${t(signaturesChecked ? 'verified' : 'unchecked')}`
    : t('unsigned') }));
  inner.append(ackLine(d));
  if (!d.withdrawn && !d.cancelled) {
    const note = el('input', { name: 'note', placeholder: t('note'), size: 30, maxlength: 1000 });
    const confirmB = el('button', { type: 'button', class: 'confirm', text: t('confirm'),
      disabled: d.acks.confirmed !== '' || d.acks.ready !== '' ? true : undefined });
    confirmB.addEventListener('click', () => act(d, 'confirm', {}, confirmB));
    const readyB = el('button', { type: 'button', class: 'ready primary', text: t('ready'),
      disabled: d.acks.ready !== '' ? true : undefined });
    readyB.addEventListener('click', () => act(d, 'ready', { note: note.value }, readyB));
    inner.append(el('div', { class: 'actions' }, confirmB, note, readyB));
    const more = el('details', { class: 'rate-box' }, el('summary', { text: t('rate') }), ratingForm(d));
    if (open.has(d.id + ':rate')) more.open = true;
    more.addEventListener('toggle', () => (more.open ? open.add(d.id + ':rate') : open.delete(d.id + ':rate')));
    inner.append(more);
    if (d.form) inner.append(returnForm(d));
  }
  return c;
}

function overdue(report) {
  const box = document.getElementById('overdue');
  box.replaceChildren();
  const own = (report && report.own) || [];
  const children = (report && report.children) || [];
  box.hidden = own.length === 0 && children.length === 0;
  if (box.hidden) return;
  box.append(el('h2', { text: t('overdue_title') }));
  const line = (item) => `${item.title} (${item.directive_id}) ${t('level_' + item.level.toLowerCase())} — ${t('due')} ${local(item.deadline)}`;
  if (own.length) {
    const ul = el('ul');
    own.forEach((i) => ul.append(el('li', { text: line(i) })));
    box.append(el('p', { text: t('overdue_own') }), ul);
  }
  if (children.length) {
    const ul = el('ul');
    for (const i of children) {
      const names = (i.unit_names || []).map((n, k) => `${i.units[k]} ${n}`);
      ul.append(el('li', { text: `${line(i)}: ${t('units', (i.units || []).length)} — ${names.join('、')}` }));
    }
    box.append(el('p', { text: t('overdue_children') }), ul);
  }
}

function render() {
  if (!last) return;
  document.getElementById('unit').textContent = last.unit;
  const link = document.getElementById('link');
  if (!last.daemon.running) {
    link.textContent = t('daemon_down');
    link.className = 'badge down';
  } else {
    let text = t(last.daemon.connected ? 'connected' : 'disconnected');
    if (last.daemon.pending) text += ' · ' + t('pending_count', last.daemon.pending);
    link.textContent = text;
    link.className = 'badge ' + (last.daemon.connected ? 'up' : 'down');
    if (last.daemon.storage_error) notice(t('storage_error') + last.daemon.storage_error, true);
  }
  overdue(last.overdue);
  // What the staff typed, and where they were typing, survive a refresh
  // that an event brings.
  const keyOf = (i) => i.closest('article').dataset.id + '/' + (i.dataset.key || i.name);
  const typed = new Map();
  document.querySelectorAll('article[data-id] input, article[data-id] select').forEach((i) => {
    if (i.name) typed.set(keyOf(i), i.value);
  });
  const active = document.activeElement;
  const focused = active && active.closest && active.closest('article[data-id]') && active.name
    ? { key: keyOf(active), start: active.selectionStart, end: active.selectionEnd } : null;
  const list = document.getElementById('directives');
  list.replaceChildren(...last.directives.map((d) => card(d, last.tier, last.signatures_checked)));
  document.querySelectorAll('article[data-id] input, article[data-id] select').forEach((i) => {
    const key = keyOf(i);
    if (typed.has(key)) i.value = typed.get(key);
    if (focused && key === focused.key) {
      i.focus();
      try { i.setSelectionRange(focused.start, focused.end); } catch (e) { /* not a text input */ }
    }
  });
  document.getElementById('empty').hidden = last.directives.length > 0;
}

// Reads the inbox again. Requests run one at a time: an event that arrives
// while one is in flight asks for one more after it, so an older answer
// never lands after a newer one (a confirmation shown, then hidden again by
// the pending state a slower request read before it).
let reading = null;
let readAgain = false;
async function refresh() {
  if (reading) {
    readAgain = true;
    return reading;
  }
  reading = (async () => {
    do {
      readAgain = false;
      try {
        last = await api('/api/inbox');
        skew = new Date(last.now).getTime() - Date.now();
        render();
      } catch (e) {
        if (e.status === 401) showLogin();
        else notice(t('wrong') + e.message, true);
      }
    } while (readAgain);
    reading = null;  // in the same step as the last check of readAgain
  })();
  return reading;
}

function listen() {
  if (events) events.close();
  events = new EventSource('/api/events');
  events.addEventListener('inbox', () => refresh());
  // What changed before the stream was open (or while it reconnected) sends
  // no event: read the inbox again each time it opens.
  events.addEventListener('open', () => refresh());
  // A stream refused (the session ended) is not tried again by the browser:
  // ask whether the session is still there, and show the login if not.
  events.addEventListener('error', async () => {
    if (events.readyState !== EventSource.CLOSED) return;  // reconnecting by itself
    const session = await api('/api/session').catch(() => null);
    if (session && !session.logged_in) showLogin();
    else setTimeout(listen, 5000);
  });
}

function showLogin() {
  if (events) { events.close(); events = null; }
  document.getElementById('login').hidden = false;
  document.getElementById('inbox').hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('password').focus();
}

async function showInbox() {
  document.getElementById('login').hidden = true;
  document.getElementById('inbox').hidden = false;
  document.getElementById('logout').hidden = false;
  await refresh();
  listen();
}

async function start() {
  translateStatic();
  document.getElementById('lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('flatcast-lang', lang);
    translateStatic();
    render();
  });
  document.getElementById('logout').addEventListener('click', async () => {
    await api('/api/logout', {}).catch(() => {});
    showLogin();
  });
  document.getElementById('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = document.getElementById('login-error');
    error.textContent = '';
    try {
      await api('/api/login', { password: document.getElementById('password').value });
      document.getElementById('password').value = '';
      await showInbox();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  setInterval(render, 30000);  // the time left moves on
  const session = await api('/api/session').catch(() => ({ logged_in: false }));
  if (session.unit) document.getElementById('unit').textContent = session.unit;
  if (session.logged_in) await showInbox();
  else showLogin();
}

start();
