// ESLint for the web app (run from web/: `npm run lint`). It lives in its
// own package because typescript-eslint parses with TypeScript's JavaScript
// API, which TypeScript 7, the app's type checker, no longer ships: this
// package holds TypeScript 6 for the parser alone. Type checking stays with
// the app's `tsc --noEmit`.
import js from '@eslint/js'
import { defineConfig, globalIgnores } from 'eslint/config'
import reactHooks from 'eslint-plugin-react-hooks'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig([
  globalIgnores(['dist/', 'lint/node_modules/', 'node_modules/'], 'hogpipe/ignores'),
  {
    name: 'hogpipe/web',
    // Paths are web/'s, not this folder's.
    basePath: '..',
    files: ['**/*.{ts,tsx}'],
    extends: [js.configs.recommended, tseslint.configs.recommended, reactHooks.configs.flat['recommended-latest']],
    languageOptions: {
      ecmaVersion: 2022,
      globals: globals.browser,
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A missed dependency is a stale-closure bug, not a style point.
      'react-hooks/exhaustive-deps': 'error',
    },
  },
])
