// rooms.js: the two things of the rooms that are the viewer's own and that
// htmx does not do: the unread counts of the rooms index, and telling the
// server how far a reader has read a room. No framework, no inline code.
(function () {
  'use strict';

  // These mirror views/ids.go: change both together.
  var IDS = {
    index: 'rooms-index',   // views.IDRoomsIndex: the list every viewer shares
    reads: 'room-reads',    // views.IDRoomReads: the viewer's reads
    readPrefix: 'read-',    // views.RoomReadID
    reader: 'room-reader',  // views.IDRoomReader: on a signed-in reader's room page
    messages: 'messages',   // views.IDMessages
    messagePrefix: 'msg-',  // views.MessageID
    csrf: 'csrf',           // views.IDCSRF
    csrfField: '_csrf'      // views.FieldCSRF
  };
  var byId = function (id) { return document.getElementById(id); };

  // (1) Unread counts on the rooms index. The list is one fragment for
  // every viewer: each room carries its message count and the account of
  // its newest message's author. The viewer's reads come with the page (a
  // data element per room: what was unread, and the room's count then),
  // and again over the account's own topic whenever it reads a room
  // further, on any page. A room's unread count is what was unread then
  // plus every message since, unless the newest is the viewer's own:
  // posting reads a room up to one's message.
  var reads = byId(IDS.reads);
  if (reads) {
    var viewer = reads.dataset.viewer;
    var cap = +reads.dataset.cap || 0;
    var label = function (n) {
      if (n <= 0) return '';
      if (cap && n >= cap) return (cap - 1) + '+ unread';
      return n + ' unread';
    };
    var paint = function () {
      var list = byId(IDS.index);
      if (!list) return;
      list.querySelectorAll('[data-room]').forEach(function (row) {
        var badge = row.querySelector('.unread');
        if (!badge) return;
        var read = byId(IDS.readPrefix + row.dataset.room);
        var n = 0;
        if (read) {
          var count = +row.dataset.messages;
          var then = +read.dataset.messages;
          if (count > then && row.dataset.lastUser === viewer) {
            read.value = '0';
            read.dataset.messages = String(count);
            then = count;
          }
          n = +read.value + Math.max(0, count - then);
        }
        var text = label(n);
        if (badge.textContent !== text) badge.textContent = text;
      });
    };
    // Both the list and the reads are swapped in whole: watch the page.
    new MutationObserver(paint).observe(document.body, { childList: true, subtree: true });
    paint();
  }

  // (2) A reader's room page says how far they have read: the server
  // recorded the newest message when it rendered the page; after that, a
  // newer message counts as read once it has been on screen in a visible
  // page. Reads are sent at most every few seconds, and at once when the
  // page is hidden or left, so a busy room costs a write now and then, not
  // one per message.
  var reader = byId(IDS.reader);
  if (reader) {
    var url = reader.dataset.url;
    var every = 10000;
    var positionOf = function (el) {
      return el && el.id && el.id.indexOf(IDS.messagePrefix) === 0 ? +el.id.slice(IDS.messagePrefix.length) || 0 : 0;
    };
    var newestShown = function () {
      var list = byId(IDS.messages);
      return list ? positionOf(list.lastElementChild) : 0;
    };
    var recorded = newestShown(); // what the server has
    var seen = recorded;          // the newest message the reader has seen
    var lastSent = 0;
    var timer = 0;
    var form = function (pos) {
      var f = new URLSearchParams();
      var token = byId(IDS.csrf);
      if (token) f.append(IDS.csrfField, token.value);
      f.append('position', String(pos));
      return f;
    };
    var send = function () {
      clearTimeout(timer);
      timer = 0;
      if (seen <= recorded) return;
      recorded = seen;
      lastSent = Date.now();
      fetch(url, { method: 'POST', body: form(seen), credentials: 'same-origin', keepalive: true })
        .catch(function () { /* the next read, or the next visit, records it */ });
    };
    var schedule = function () {
      if (seen <= recorded || timer) return;
      timer = setTimeout(send, Math.max(0, lastSent + every - Date.now()));
    };
    var watched = null;
    var sight = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (!e.isIntersecting || document.hidden) return;
        seen = Math.max(seen, positionOf(e.target));
        schedule();
      });
    });
    // Watch the newest message: the list grows, or is replaced after a gap.
    var watchNewest = function () {
      var list = byId(IDS.messages);
      var last = list && list.lastElementChild;
      if (last === watched) return;
      if (watched) sight.unobserve(watched);
      watched = last;
      if (last) sight.observe(last);
    };
    new MutationObserver(watchNewest).observe(document.body, { childList: true, subtree: true });
    watchNewest();
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) {
        if (timer) send();
      } else if (watched) {
        // Look again: what arrived while hidden is read once it is seen.
        sight.unobserve(watched);
        sight.observe(watched);
      }
    });
    window.addEventListener('pagehide', function () {
      if (seen <= recorded) return;
      recorded = seen;
      navigator.sendBeacon(url, form(seen));
    });
  }
})();
