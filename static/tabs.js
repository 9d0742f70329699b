// tabs.js: one live connection per browser, shared by its tabs. No
// framework, no build step, no inline code (strict CSP).
//
// Over HTTP/1.1 a browser opens at most six connections to one origin,
// across all its windows, and a page's live connection holds one for as
// long as the page is open: a seventh live page would never load, and
// every other request would queue behind them. So the tabs of a browser
// share one connection:
//
//   - The leader, the tab that holds the Web Lock "beacon-live", opens
//     /live?shared=1 with the union of every tab's topics and reads it
//     itself with fetch (so it does not pause while the tab is hidden, as
//     hx-sse does). Every event of that connection names its topic; the
//     leader relays each over the BroadcastChannel "beacon-live". When the
//     leader closes, the lock passes to another tab, which asks every tab
//     what it shows and opens the connection again.
//   - Every tab, the leader too, keeps its own resume position (the
//     position its page was rendered at, then the id of every event it
//     has seen) and applies only the events of its own topics after it,
//     exactly as hx-sse would: unnamed ones swapped in (out of band, by
//     id), named ones fired as DOM events on the live element, with
//     hx-sse's htmx:sse:* events around them, so beacon.js (the
//     indicator, its notices, the lists) works as it does with hx-sse.
//   - A tab joins the connection as it is when it carries the tab's topics
//     and has not gone past the tab's position (it then gets the newest
//     frame of each state topic the leader has seen). Otherwise the leader
//     reconnects with the new union, resuming from the lowest position a
//     tab needs: the server replays the log from there (each tab drops what
//     it applied already) and sends every state topic's newest frame, so no
//     frame is lost. (Adding topics to a connection by its id would need the
//     server to keep connections addressable and to splice a replay into a
//     live stream; a reconnect reuses the resume every connection has.)
//   - Topics the viewer may not read (signed out, another account's
//     private topic) are refused one by one (Beacon-Refused-Topics): the
//     tabs that show them say so, the others stay live. Signing out ends
//     the connection, like a page's own.
//   - Without Web Locks (only in secure contexts: https, or localhost) or
//     BroadcastChannel, when its URL names no topics, and when the tabs
//     would need more topics than one connection carries, a page keeps its
//     own hx-sse connection.
(function () {
  'use strict';

  // These mirror views/ids.go: change both together.
  var BEACON = {
    live: 'live',                            // views.IDLive: holds the page's live connection
    shared: 'shared',                        // views.QueryShared
    sharedTopics: 64,                        // views.SharedTopics
    refusedHeader: 'Beacon-Refused-Topics',  // views.HeaderRefusedTopics
    name: 'beacon-live'                      // the Web Lock and the BroadcastChannel
  };

  var el = document.getElementById(BEACON.live);
  var url = el && el.getAttribute('hx-sse:connect');
  if (!url || !window.htmx) return;
  var page = new URL(url, location.href);
  var topics = (page.searchParams.get('topics') || '').split(',').filter(Boolean);
  if (!(navigator.locks && navigator.locks.request) || typeof BroadcastChannel !== 'function' ||
      typeof AbortController !== 'function' || typeof TextDecoder !== 'function' || !window.fetch ||
      topics.length === 0) {
    el.dataset.role = 'solo';
    return; // hx-sse connects the page on its own, as it always did
  }
  // Take the connection from hx-sse before htmx starts: it starts at
  // DOMContentLoaded, after this script (see views.Layout).
  el.removeAttribute('hx-sse:connect');
  el.dataset.role = 'follower';

  // ---- Positions: "<epoch>-<position>", as live.FormatID writes them.

  function parseId(s) {
    var i = typeof s === 'string' ? s.indexOf('-') : -1;
    if (i <= 0 || !/^\d+$/.test(s.slice(i + 1))) return null;
    return { id: s, epoch: s.slice(0, i), n: Number(s.slice(i + 1)) };
  }
  // after reports whether position a comes after b. A position of another
  // epoch (a database the server no longer has, or the one after a resync)
  // counts as after: it is a new start.
  function after(a, b) { return !b || a.epoch !== b.epoch || a.n > b.n; }

  function randomId() {
    var b = new Uint8Array(8);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  // ---- This tab.

  var tab = {
    id: randomId(),
    topics: topics,
    pos: parseId(page.searchParams.get('after')),
    gen: '',      // the leader's connection that feeds this tab; '' while none does
    done: false   // refused, or on a connection of its own
  };
  var mine = new Set(tab.topics);
  // What hx-sse hands its events as detail.connection; beacon.js reads
  // config (on a refusal) and reader (open or not).
  var connection = { url: url, config: { reconnect: true }, reader: null, shared: true };

  var channel = new BroadcastChannel(BEACON.name);
  // broadcast sends m to every other tab; post to this one as well.
  function broadcast(m) { channel.postMessage(m); }
  function post(m) { broadcast(m); receive(m); }
  channel.onmessage = function (e) { receive(e.data); };

  function receive(m) {
    switch (m && m.t) {
      case 'frame':
        if (m.gen === tab.gen) enqueue(m);
        return;
      case 'state':
        // After the frames before it are applied, as hx-sse tells it: a
        // frame applied later would replace what beacon.js marked (stale).
        if (m.gen === tab.gen) inOrder(function () { showState(m.state, m.status); });
        return;
      case 'attach':
        if (tab.done || m.tabs.indexOf(tab.id) < 0) return;
        tab.gen = m.gen;
        (m.latest || []).forEach(enqueue);
        inOrder(function () { showState(m.state, 0); });
        return;
      case 'refuse':
        if (m.tabs.indexOf(tab.id) >= 0) refused(m.status);
        return;
      case 'solo':
        if (m.tab === tab.id) solo();
        return;
      case 'hello': // a new leader asks what every tab shows
        tab.gen = '';
        join();
        return;
      case 'join':
      case 'leave':
      case 'now':
        if (leader) leader.handle(m);
        return;
    }
  }

  function join() {
    if (!tab.done) post({ t: 'join', tab: tab.id, topics: tab.topics, pos: tab.pos ? tab.pos.id : '' });
  }

  // ---- Applying frames, in order, as hx-sse does.

  var queue = Promise.resolve();
  function enqueue(m) {
    inOrder(function () { return applyFrame(m); });
  }
  // inOrder runs fn once everything queued before it has run.
  function inOrder(fn) {
    queue = queue.then(fn).catch(function (e) {
      console.error('beacon: a live update failed', e);
    });
  }

  async function applyFrame(m) {
    if (tab.done) return;
    var p = parseId(m.id);
    var forMe = !m.topic || mine.has(m.topic);
    var seen = !!(m.topic && p && !after(p, tab.pos)); // replayed again for another tab
    if (forMe && !seen && (m.hasData || m.event)) await swap(m);
    if (p && after(p, tab.pos)) tab.pos = p;
  }

  async function swap(m) {
    var pending = [];
    var detail = {
      connection: connection,
      message: { data: m.data, event: m.event, id: m.id || (tab.pos ? tab.pos.id : '') },
      cancelled: false,
      waitUntil: function (p) { pending.push(Promise.resolve(p)); }
    };
    var go = htmx.trigger(el, 'htmx:sse:before:message', detail);
    await Promise.all(pending);
    if (!go || detail.cancelled) return;
    var msg = detail.message;
    if (msg.event) {
      htmx.trigger(el, msg.event, { data: msg.data, id: msg.id });
    } else {
      await htmx.swap({ sourceElement: el, target: el, text: msg.data,
        swap: (el.getAttribute('hx-swap') || 'none') + ' swapEmpty:false' });
    }
    htmx.trigger(el, 'htmx:sse:after:message', { connection: connection, message: msg });
  }

  // ---- The connection's state, told as hx-sse tells it (beacon.js shows it).

  function showState(state, status) {
    if (tab.done) return;
    if (state === 'live') {
      connection.reader = {};
      htmx.trigger(el, 'htmx:sse:after:connection', { connection: connection });
    } else if (state === 'retrying') {
      connection.reader = null;
      htmx.trigger(el, 'htmx:sse:error', { connection: connection, status: status,
        error: new Error('the shared live connection is down; retrying') });
    }
    // 'connecting': the indicator keeps what it says until the stream opens.
  }

  function refused(status) {
    if (tab.done) return;
    tab.done = true;
    tab.gen = '';
    el.dataset.role = 'refused';
    connection.reader = null;
    // beacon.js gives up on a refusal and says why, as with hx-sse.
    htmx.trigger(el, 'htmx:sse:error', { connection: connection, status: status,
      error: new Error('the live connection was refused (HTTP ' + status + ')') });
  }

  // solo gives this page a connection of its own (hx-sse's), from where it is.
  function solo() {
    if (tab.done) return;
    tab.done = true;
    tab.gen = '';
    el.dataset.role = 'solo';
    if (tab.pos) page.searchParams.set('after', tab.pos.id);
    var own = page.pathname + page.search;
    el.setAttribute('hx-sse:connect', own);
    htmx.ajax('GET', own, { source: el, timeout: htmx.config.defaultTimeout });
  }

  // ---- The leader: holds the connection and relays it.

  var leader = null;
  var lockRequest = null; // aborts this tab's wait for the lock

  function campaign() {
    if (lockRequest) return;
    lockRequest = new AbortController();
    navigator.locks.request(BEACON.name, { signal: lockRequest.signal }, function () {
      return new Promise(function (release) { leader = lead(release); });
    }).catch(function () { /* the wait was given up (frozen, hidden in the cache) */ });
  }

  function resign() {
    if (leader) { leader.stop(); leader = null; }
    if (lockRequest) { lockRequest.abort(); lockRequest = null; }
  }

  function lead(release) {
    var members = new Map(); // tab id → {topics, pos}: every tab that asked to be fed
    var conn = null;         // the current connection (see reconnect)
    var count = 0;           // connections made, for their names
    var pending = 0;         // the timer of a coming reconnect
    var attempt = 0;         // failed tries since the stream was last open
    var retry = null;        // the server's retry hint, in ms
    var wake = null;         // ends the wait before the next try

    el.dataset.role = 'leader';
    tab.gen = '';
    if (!tab.done) members.set(tab.id, { topics: tab.topics, pos: tab.pos });
    broadcast({ t: 'hello' });
    schedule(50); // give the other tabs a moment to answer

    function handle(m) {
      if (m.t === 'join') {
        // A tab that joins is fed by nothing (it may have been frozen, or
        // cached, while the connection went on): from its own position.
        var member = { topics: m.topics, pos: parseId(m.pos) };
        members.set(m.tab, member);
        if (conn) conn.fed.delete(m.tab);
        if (conn && fits(member)) attach(m.tab);
        else schedule(20);
      } else if (m.t === 'leave') {
        members.delete(m.tab);
        if (conn) conn.fed.delete(m.tab);
      } else if (m.t === 'now' && wake) {
        wake();
      }
    }

    // fits reports whether a tab can be fed by the connection as it is: it
    // carries the tab's topics and has not passed the tab's position.
    function fits(member) {
      if (!member.topics.every(function (t) { return conn.topics.indexOf(t) >= 0; })) return false;
      return !member.pos || (!!conn.at && member.pos.epoch === conn.at.epoch && member.pos.n >= conn.at.n);
    }

    function attach(id) {
      conn.fed.add(id);
      post({ t: 'attach', gen: conn.gen, tabs: [id], state: conn.state, latest: Array.from(conn.latest.values()) });
    }

    function schedule(ms) {
      if (!pending) pending = setTimeout(reconnect, ms);
    }

    // reconnect replaces the connection by one that carries every member's
    // topics, from the lowest position one of them needs.
    function reconnect() {
      pending = 0;
      var topics = [];
      members.forEach(function (m, id) {
        var extra = m.topics.filter(function (t) { return topics.indexOf(t) < 0; });
        if (topics.length + extra.length > BEACON.sharedTopics) {
          members.delete(id);
          post({ t: 'solo', tab: id });
          return;
        }
        topics.push.apply(topics, extra);
      });
      var old = conn;
      var epoch = old && old.at ? old.at.epoch : null;
      var from = null;
      members.forEach(function (m, id) {
        // A tab the old connection fed has seen everything up to its position.
        var p = old && old.fed.has(id) && old.at ? old.at : m.pos;
        if (!p) return;
        // A position of another epoch wins: the connection must resync.
        if (!from || (p.epoch !== from.epoch ? p.epoch !== (epoch || from.epoch) : p.n < from.n)) from = p;
      });
      conn = null;
      if (old) old.abort.abort();
      if (topics.length === 0) return;
      conn = {
        gen: tab.id + '.' + (++count),
        topics: topics,
        at: from,                  // the position of the last event relayed (or where it starts)
        fed: new Set(members.keys()),
        latest: new Map(),         // the newest frame of each state topic, for tabs that attach later
        state: 'connecting',
        abort: new AbortController()
      };
      post({ t: 'attach', gen: conn.gen, tabs: Array.from(conn.fed), state: conn.state });
      run(conn);
    }

    function url(c) {
      var u = new URL(page.pathname, location.href);
      u.searchParams.set('topics', c.topics.join(','));
      if (c.at) u.searchParams.set('after', c.at.id);
      u.searchParams.set(BEACON.shared, '1');
      return u.pathname + u.search;
    }

    function setState(c, state, status) {
      c.state = state;
      post({ t: 'state', gen: c.gen, state: state, status: status || 0 });
    }

    async function run(c) {
      while (c === conn) {
        var resp = null;
        try {
          resp = await fetch(url(c), { headers: { Accept: 'text/event-stream' }, credentials: 'same-origin',
            cache: 'no-store', signal: c.abort.signal });
        } catch (e) { /* the network, or aborted: see below */ }
        if (c !== conn) return;
        var status = resp ? resp.status : 0;
        if (resp) {
          var list = (resp.headers.get(BEACON.refusedHeader) || '').split(',').map(function (s) {
            var f = s.trim().split(' ');
            try {
              return f.length === 2 ? { status: Number(f[0]), topic: decodeURIComponent(f[1]) } : null;
            } catch (e) {
              return null; // not escaped as the server escapes
            }
          }).filter(Boolean);
          if (!resp.ok && isRefusal(status) && list.length === 0) {
            list = c.topics.map(function (t) { return { status: status, topic: t }; });
          }
          refuse(c, list);
          if (c !== conn) return;
          if (!resp.ok && isRefusal(status)) {
            // Refused as a whole: the tabs were told why. Any tab left (a
            // refusal that named topics none of them shows) gets a new try.
            conn = null;
            if (members.size > 0) schedule(0);
            return;
          }
          if (resp.ok && /^text\/event-stream/.test(resp.headers.get('Content-Type') || '') && resp.body) {
            attempt = 0;
            setState(c, 'live');
            await relay(c, resp.body.getReader());
            if (c !== conn) return;
            status = 0;
          } else if (resp.body) {
            resp.body.cancel().catch(function () {});
          }
        }
        setState(c, 'retrying', status);
        await pause();
      }
    }

    // A 4xx other than a timeout or a rate limit will not change by retrying.
    function isRefusal(status) {
      return status >= 400 && status < 500 && status !== 408 && status !== 429;
    }

    // refuse tells the tabs that show a refused topic, and stops asking for it.
    function refuse(c, list) {
      if (list.length === 0) return;
      var why = new Map(list.map(function (r) { return [r.topic, r.status]; }));
      members.forEach(function (m, id) {
        var hit = m.topics.find(function (t) { return why.has(t); });
        if (hit === undefined) return;
        members.delete(id);
        c.fed.delete(id);
        post({ t: 'refuse', tabs: [id], status: why.get(hit) });
      });
      c.topics = c.topics.filter(function (t) { return !why.has(t); });
      if (members.size === 0) {
        // Every tab was refused: nothing to carry.
        conn = null;
        c.abort.abort();
      }
    }

    // pause waits before the next try: the server's retry hint, doubled on
    // every failure up to a minute, jittered; a tab that becomes visible or
    // comes back online ends it early ('now').
    function pause() {
      var delay = Math.min((retry != null ? retry : 500) * Math.pow(2, attempt++), 60000);
      delay *= 0.7 + Math.random() * 0.6;
      return new Promise(function (resolve) {
        var timer = setTimeout(done, delay);
        function done() { clearTimeout(timer); if (wake === done) wake = null; resolve(); }
        wake = done;
      });
    }

    // relay reads the stream (the SSE standard's parsing, plus the "topic"
    // field) and hands every event to every tab until it ends or c is
    // replaced. Beacon ends its lines with "\n" only.
    async function relay(c, reader) {
      var decoder = new TextDecoder();
      var buf = '';
      var ev = { data: '', hasData: false, event: '', id: '', hasId: false, topic: '' };
      var first = true;
      try {
        for (;;) {
          var r = await reader.read();
          if (r.done || c !== conn) break;
          buf += decoder.decode(r.value, { stream: true });
          if (first && buf) {
            buf = buf.replace(/^\uFEFF/, ''); // a byte order mark may start the stream
            first = false;
          }
          var lines = buf.split('\n');
          buf = lines.pop();
          for (var i = 0; i < lines.length; i++) {
            var line = lines[i].replace(/\r$/, '');
            if (line === '') {
              if (c !== conn) return;
              dispatch(c, ev);
              ev = { data: '', hasData: false, event: '', id: '', hasId: false, topic: '' };
              continue;
            }
            if (line[0] === ':') continue; // a heartbeat
            var k = line.indexOf(':');
            var field = k < 0 ? line : line.slice(0, k);
            var value = k < 0 ? '' : line.slice(k + 1);
            if (value[0] === ' ') value = value.slice(1);
            if (field === 'data') { ev.data = ev.hasData ? ev.data + '\n' + value : value; ev.hasData = true; }
            else if (field === 'event') ev.event = value;
            else if (field === 'id' && value.indexOf('\0') < 0) { ev.id = value; ev.hasId = true; }
            else if (field === 'topic') ev.topic = value;
            else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
          }
        }
      } catch (e) {
        // Aborted, or the stream broke: the caller tries again.
      } finally {
        reader.cancel().catch(function () {});
      }
    }

    function dispatch(c, ev) {
      if (!ev.hasData && !ev.event && !ev.hasId) return;
      var p = ev.hasId ? parseId(ev.id) : null;
      if (p) c.at = p;
      var m = { t: 'frame', gen: c.gen, id: ev.hasId ? ev.id : '', topic: ev.topic, event: ev.event,
        data: ev.data, hasData: ev.hasData };
      if (ev.topic && !ev.hasId && !ev.event) c.latest.set(ev.topic, m); // a state topic's newest value
      else if (ev.topic && ev.hasId) c.latest.delete(ev.topic);      // a log topic (after a resync's snapshot)
      post(m);
    }

    function stop() {
      if (pending) clearTimeout(pending);
      pending = 0;
      var c = conn;
      conn = null;
      if (c) {
        c.abort.abort();
        broadcast({ t: 'state', gen: c.gen, state: 'retrying', status: 0 });
      }
      if (wake) wake();
      el.dataset.role = tab.done ? el.dataset.role : 'follower';
      release();
    }

    return { handle: handle, stop: stop };
  }

  // ---- Lifecycle.

  function start() {
    join();
    campaign();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();

  function askNow() { if (!tab.done) post({ t: 'now' }); }
  document.addEventListener('visibilitychange', function () { if (!document.hidden) askNow(); });
  window.addEventListener('online', function () {
    askNow();
    // beacon.js has just said "Reconnecting…" (it cannot see this
    // connection); the stream may well have survived the outage.
    if (connection.reader && !tab.done) htmx.trigger(el, 'htmx:sse:after:connection', { connection: connection });
  });

  // A tab that goes away hands the connection over; one that is frozen
  // (Chrome freezes some background tabs) or kept in the back/forward cache
  // must not hold the lock, or wait for it, meanwhile.
  function away() {
    broadcast({ t: 'leave', tab: tab.id });
    tab.gen = '';
    resign();
  }
  function back() {
    tab.gen = '';
    start();
  }
  window.addEventListener('pagehide', away);
  document.addEventListener('freeze', away);
  window.addEventListener('pageshow', function (e) { if (e.persisted) back(); });
  document.addEventListener('resume', back);
})();
