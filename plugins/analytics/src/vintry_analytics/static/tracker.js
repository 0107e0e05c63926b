/* Vintry analytics tracker: batches a dealer's behaviour events and sends them to its mall.
 *
 *   const tracker = VintryTracker.start({endpoint: "/api/v1/x/analytics/events", token});
 *   tracker.productView("FT-500");           // dwell time measured until the page is left
 *   tracker.track("search", {properties: {query: "53%"}});
 *
 * Events carry a unique id, so a batch sent twice (a retry after a timeout) is stored once.
 * Rejected events come back with a reason code; they are logged to the console, not retried.
 */
(function (global) {
  "use strict";

  function uid() {
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }

  function start(options) {
    const endpoint = options.endpoint || "/api/v1/x/analytics/events";
    const maxBatch = options.maxBatch || 50;
    const flushMs = options.flushMs || 5000;
    const session = options.session || uid();
    const queue = [];
    let viewing = null;

    function send(events, keepalive) {
      return fetch(endpoint, {
        method: "POST",
        keepalive: Boolean(keepalive),
        headers: {"Content-Type": "application/json", "Authorization": "Bearer " + options.token},
        body: JSON.stringify({events: events}),
      }).then(function (response) {
        if (response.status === 422) {
          return response.json().then(function (body) { console.warn("vintry tracker", body); });
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json().then(function (report) {
          report.rejected.forEach(function (r) {
            console.warn("vintry tracker: event", r.index, r.code, r.field, r.message);
          });
        });
      }).catch(function () {
        // Network trouble: put the events back; their ids make the resend harmless.
        Array.prototype.unshift.apply(queue, events);
      });
    }

    function flush(keepalive) {
      if (!queue.length) { return Promise.resolve(); }
      return send(queue.splice(0, maxBatch), keepalive);
    }

    function track(type, fields) {
      fields = fields || {};
      queue.push({
        id: uid(),
        type: type,
        session: session,
        occurred_at: new Date().toISOString(),
        sku: fields.sku,
        properties: fields.properties || {},
      });
      if (queue.length >= maxBatch) { flush(false); }
    }

    function endProductView() {
      if (viewing) {
        track("product_view", {sku: viewing.sku, properties: {dwell_ms: Date.now() - viewing.since}});
        viewing = null;
      }
    }

    const timer = setInterval(function () { flush(false); }, flushMs);
    global.addEventListener("pagehide", function () { endProductView(); flush(true); });
    global.addEventListener("visibilitychange", function () {
      if (global.document && global.document.visibilityState === "hidden") { endProductView(); flush(true); }
    });

    return {
      session: session,
      track: track,
      flush: flush,
      pageView: function (path) { track("page_view", {properties: {path: path || global.location.pathname}}); },
      productView: function (sku) { endProductView(); viewing = {sku: sku, since: Date.now()}; },
      leaveProduct: endProductView,
      search: function (query, results) { track("search", {properties: {query: query, results: results}}); },
      addToCart: function (sku, quantity) { track("add_to_cart", {sku: sku, properties: {quantity: quantity}}); },
      removeFromCart: function (sku, quantity) { track("remove_from_cart", {sku: sku, properties: {quantity: quantity}}); },
      checkoutStart: function (lines) { track("checkout_start", {properties: {lines: lines}}); },
      comparePrice: function (sku, others) { track("price_comparison", {sku: sku, properties: {compared_with: others || []}}); },
      campaignView: function (campaign) { track("campaign_view", {properties: {campaign: campaign}}); },
      stop: function () { clearInterval(timer); endProductView(); return flush(true); },
    };
  }

  global.VintryTracker = {start: start};
})(typeof window !== "undefined" ? window : globalThis);
