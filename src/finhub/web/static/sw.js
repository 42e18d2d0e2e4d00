// finhub's service worker, served at /sw.js so that its scope is the whole site. The server
// puts `CONFIG` in front of this file: the cache's name (new with every release of what it
// keeps), the static files to keep, the offline page's path and the app's languages.
//
// What it keeps is deliberately narrow: static files (never personal) and the offline page
// (rendered without the person). Pages, API answers and anything showing balances are never
// stored: navigations always go to the network, and only when there is none does the offline
// page stand in.
"use strict";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CONFIG.cache);
    await cache.addAll(CONFIG.precache);
    await storeOfflinePage(cache, CONFIG.offline);
    await self.skipWaiting();
  })());
});

// Old releases' caches go as soon as this one takes over.
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name !== CONFIG.cache).map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(networkOrOffline(request));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  }
  // Everything else (the API, HTMX page swaps, the manifest) is the browser's own business.
});

async function networkOrOffline(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const offline = await caches.match(CONFIG.offline, { cacheName: CONFIG.cache });
    if (offline) return offline;
    throw error;
  }
}

// Static URLs carry their content's hash (`?v=…`), so a stored copy is never stale.
async function cacheFirst(request) {
  const cache = await caches.open(CONFIG.cache);
  const stored = await cache.match(request);
  if (stored) return stored;
  const response = await fetch(request);
  if (response.ok && response.type === "basic" && !request.headers.has("range")) {
    await cache.put(request, response.clone());
  }
  return response;
}

// Stored under the offline path only, whatever was asked for (`?lang=…`).
async function storeOfflinePage(cache, url) {
  const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
  if (response.ok) await cache.put(CONFIG.offline, response);
}

// A page tells its language: the offline page follows when the person changes it.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "offline-language" || !CONFIG.languages.includes(data.language)) return;
  event.waitUntil((async () => {
    const cache = await caches.open(CONFIG.cache);
    const stored = await cache.match(CONFIG.offline);
    if (stored && stored.headers.get("content-language") === data.language) return;
    await storeOfflinePage(cache, CONFIG.offline + "?lang=" + encodeURIComponent(data.language));
  })().catch(() => undefined));
});
