// The side panel: reads the current tab's text (through the service worker), sends the question to the
// offscreen engine, streams the answer, and shows each cited sentence with a button that finds it in the page.
const $ = (id) => document.getElementById(id);
let nextId = 1;
let port = null;
const handlers = new Map();

function connect() {
  port = chrome.runtime.connect({ name: 'hearth' });
  port.onMessage.addListener((m) => handlers.get(m.id)?.(m));
  port.onDisconnect.addListener(() => (port = null));
}

const send = (msg) => chrome.runtime.sendMessage(msg).then((r) => (r?.error ? Promise.reject(new Error(r.error)) : r));

async function ask(question) {
  $('ask').disabled = true;
  $('answer').textContent = '';
  $('evidence').replaceChildren();
  try {
    await send({ type: 'ensure-offscreen' });
    const win = await chrome.windows.getCurrent();
    $('status').textContent = 'Reading the page…';
    const page = await send({ type: 'page-text', windowId: win.id });
    if (!page.text.trim()) throw new Error('this page has no text to ask about');
    if (!port) connect();
    const id = nextId++;
    const result = await new Promise((resolve, reject) => {
      handlers.set(id, (m) => {
        if (m.type === 'status') $('status').textContent = m.text;
        else if (m.type === 'delta') $('answer').textContent += m.delta;
        else if (m.type === 'answer') {
          $('engine').textContent = m.engine;
          resolve(m.result);
        }
        else if (m.type === 'error') reject(Object.assign(new Error(m.message), { code: m.code }));
      });
      port.postMessage({ type: 'ask', id, question, page: { url: page.url, title: page.title, text: page.text } });
    }).finally(() => handlers.delete(id));
    render(result, page.tabId);
    $('status').textContent = result.abstained ? 'Not found on this page' : 'Answered';
  } catch (e) {
    $('status').textContent = `Error: ${e.message}`;
  } finally {
    $('ask').disabled = false;
  }
}

// Text only: nothing the page or the model writes becomes markup.
function render(result, tabId) {
  const answer = $('answer');
  answer.replaceChildren();
  for (const s of result.segments) {
    answer.append(document.createTextNode(s.text + ' '));
    for (const n of s.citations) {
      const b = document.createElement('button');
      b.className = 'cite';
      b.type = 'button';
      b.textContent = `[${n}]`;
      b.setAttribute('aria-label', `Show source ${n} in the page`);
      b.addEventListener('click', () => send({ type: 'show-in-page', tabId, text: result.evidence[n - 1].text }));
      answer.append(b);
    }
  }
  for (const e of result.evidence) {
    const li = document.createElement('li');
    const mark = document.createElement('mark');
    mark.textContent = e.text;
    li.append(mark);
    $('evidence').append(li);
  }
}

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  ask($('question').value.trim());
});
$('question').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('form').requestSubmit();
  }
});
