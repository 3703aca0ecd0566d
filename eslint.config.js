'use strict'

module.exports = require('neostandard')({
  ts: true,
  // The ES module entry point is TypeScript too.
  filesTs: ['**/*.mts'],
  ignores: ['dist/**', 'coverage/**', 'bench/.tmp/**']
})
