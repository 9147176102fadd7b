// Package config reads bluegreen.yaml into one Config and says precisely
// what is wrong with it.
//
// The main flow (Load → Parse):
//
//  1. yaml.v3 parses the file into a yaml.Node tree (a syntax error stops
//     here, with its line).
//  2. The decoder (node.go) walks the tree over Default() by reflection on
//     `yaml` struct tags: a key written replaces the default, a key left
//     out keeps it. It reports unknown keys (with the closest known key),
//     duplicate keys, wrong types, bad durations, percentages and
//     strategies, and remembers the position of every key.
//  3. ${VAR} and ${VAR:-default} are expanded in driver.process.command and
//     env, migrations.database_url and notify[].webhook (expand.go).
//  4. BLUEGREEN_APP, _LISTEN, _PREVIEW_LISTEN, _ADMIN_LISTEN, _STATE and
//     _ADMIN_TOKEN_FILE override their keys (flag > env > file > default;
//     flags are the caller's, who may call Validate again).
//  5. Validate (validate.go) checks required keys, ranges, addresses, enums
//     and cross-key rules.
//
// Every problem of steps 2–5 is collected and returned together as Errors,
// sorted by position; each Error names file:line:col and the dotted key
// path, such as
//
//	bluegreen.yaml:14:13: health.interval: invalid duration "5x": use a Go duration such as 500ms, 2s, 1m
//
// or "env BLUEGREEN_LISTEN: listen: ..." for a value from the environment.
//
// Paths are kept as written; accessors (StatePath, AdminTokenPath, ...)
// resolve them against Config.Dir, the config file's directory.
package config
