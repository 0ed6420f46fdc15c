// The extension's service worker: opens the side panel from the toolbar button, keeps one offscreen document
// alive (it owns the engine: a service worker cannot host a module worker for long), and reads the text of a
// tab for the side panel. It never fetches anything.

const OFFSCREEN = 'offscreen.html';

chrome.runtime.onInstalled.addListener(() => {
  chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
});

let creating = null;
async function ensureOffscreen() {
  const url = chrome.runtime.getURL(OFFSCREEN);
  const existing = await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'], documentUrls: [url] });
  if (existing.length) return;
  creating ??= chrome.offscreen
    .createDocument({ url: OFFSCREEN, reasons: ['WORKERS'], justification: 'Runs the language model and the document index in a worker.' })
    .finally(() => (creating = null));
  await creating;
}

// The tab the side panel asks about: the active tab of its window, or (when that is an extension page, as
// when the panel is opened in a tab) the most recently used web page.
async function targetTab(windowId) {
  const [active] = await chrome.tabs.query({ active: true, windowId });
  if (active && /^(https?|file):/.test(active.url ?? '')) return active;
  const tabs = (await chrome.tabs.query({})).filter((t) => /^(https?|file):/.test(t.url ?? ''));
  tabs.sort((a, b) => (b.lastAccessed ?? 0) - (a.lastAccessed ?? 0));
  if (!tabs.length) throw new Error('no web page is open to ask about');
  return tabs[0];
}

// The page's visible text, read in the page itself (nothing leaves the machine).
async function pageText(windowId) {
  const tab = await targetTab(windowId);
  const [{ result }] = await chrome.scripting.executeScript({ target: { tabId: tab.id }, func: () => document.body?.innerText ?? '' });
  return { tabId: tab.id, url: tab.url, title: tab.title || tab.url, text: result };
}

// Selects and scrolls to a quoted sentence in the page (a citation's "show in page").
async function showInPage(tabId, text) {
  await chrome.tabs.update(tabId, { active: true });
  const [{ result }] = await chrome.scripting.executeScript({
    target: { tabId },
    args: [text],
    func: (t) => {
      getSelection()?.removeAllRanges();
      return window.find(t, false, false, true);
    },
  });
  return result;
}

chrome.runtime.onMessage.addListener((msg, _sender, reply) => {
  const run = {
    'ensure-offscreen': () => ensureOffscreen().then(() => ({ ok: true })),
    'page-text': () => pageText(msg.windowId),
    'show-in-page': () => showInPage(msg.tabId, msg.text).then((found) => ({ found })),
  }[msg?.type];
  if (!run) return false;
  run().then(reply, (e) => reply({ error: e.message }));
  return true; // replies asynchronously
});
