package queue

import "embed"

// Schemas holds a JSON Schema (draft 2020-12) for the data of every event
// type, named <ce_type>.schema.json, for consumers and for the tests that
// check every event the daemon emits.
//
//go:embed schemas/*.json
var Schemas embed.FS
