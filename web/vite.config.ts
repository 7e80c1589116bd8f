/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// The API and PostHog capture paths live in the Go server on :3000; the
// dev server on :4200 forwards them so posthog-js can send to its own origin.
const api = 'http://localhost:3000'
const proxied = ['/api', '/e', '/i/v0/e', '/batch', '/capture', '/flags', '/decide', '/array']

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    // go:embed picks the app up from here (server/web.go).
    outDir: '../server/webdist',
    emptyOutDir: true,
    // posthog-js alone is ~400 kB; one chunk is fine for a local dashboard.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    port: 4200,
    proxy: Object.fromEntries(proxied.map((p) => [p, { target: api, changeOrigin: false }])),
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test-setup.ts'],
  },
})
